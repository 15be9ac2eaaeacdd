#pragma once
/// Device `qkv_rmsnorm`: validates the case and runs the single-source kernel (qkv_rmsnorm_kernel.h) on the
/// CPU launcher or on CUDA, one block per token.
#include "core/norm/qkv_rmsnorm.h"
#include "device/core/options.h"

namespace lockstep::device {

QkvRmsNormOutputs qkv_rmsnorm(const QkvRmsNormCase& c, const Options& options = {});

}  // namespace lockstep::device
