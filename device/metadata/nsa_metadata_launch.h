#pragma once
/// Launch contract of the NSA metadata kernel shared by the CPU and CUDA launchers (no Eigen/fmt).
#include <string>

#include "device/metadata/nsa_metadata_kernel.h"

namespace lockstep::device {

/// Runs the kernel on CUDA (one launch) with HOST pointers in `host`; outputs are copied back.
std::string nsa_run_cuda(const NsaParams& host);

}  // namespace lockstep::device
