#pragma once
/// Device `rmsnorm`: validates the case and runs the single-source kernel (rmsnorm_kernel.h) on the CPU
/// launcher or on CUDA, one block per row.
#include "core/norm/rmsnorm.h"
#include "device/core/options.h"

namespace lockstep::device {

RmsNormOutputs rmsnorm(const RmsNormCase& c, const Options& options = {});

}  // namespace lockstep::device
