#pragma once
/// Host-side launch contract of the speculative verify kernel for the CUDA launcher (no Eigen/fmt:
/// included by the .cu file). Pointers in the params are HOST pointers; the launcher copies them.
#include <string>

#include "device/spec/spec_verify_kernel.h"

namespace lockstep::device {

/// Runs spec_verify_block on CUDA (one block); outputs are written back to the host pointers.
/// Returns "" or the CUDA error.
std::string spec_verify_run_cuda(const SpecVerifyParams& host);

}  // namespace lockstep::device
