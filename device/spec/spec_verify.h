#pragma once
/// Device speculative verify: runs the single-source kernel (spec_verify_kernel.h) for one decode
/// step of one batch on the CPU launcher or on CUDA, and returns the same SpecVerifyResult the
/// reference verify (reference/spec/verify.h) returns. The zero_accept_leaves_verify_input fault is
/// the worker-side shortcut after the kernel: every draft rejected and no request surviving leaves
/// the verify input in spec_info.
#include "core/spec/spec_decode.h"
#include "device/core/options.h"

namespace lockstep::device {

SpecVerifyResult spec_verify(const SpecVerifyInputs& in, const Options& options = {});

}  // namespace lockstep::device
