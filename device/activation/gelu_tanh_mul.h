#pragma once
/// Device `gelu_tanh_mul`: validates the case and runs the single-source kernel (gelu_tanh_mul_kernel.h) on
/// the CPU launcher or on CUDA.
#include "core/activation/gelu_tanh_mul.h"
#include "device/core/options.h"

namespace lockstep::device {

GeluTanhMulOutputs gelu_tanh_mul(const GeluTanhMulCase& c, const Options& options = {});

}  // namespace lockstep::device
