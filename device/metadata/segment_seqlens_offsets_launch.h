#pragma once
/// Launch contract of the segment kernel shared by the CPU and CUDA launchers (no Eigen/fmt). Params hold
/// HOST pointers; the CUDA launcher copies them to the GPU and the outputs back.
#include <string>

#include "device/metadata/segment_seqlens_offsets_kernel.h"

namespace lockstep::device {

/// Runs `rows` blocks on CUDA. Returns "" or the CUDA error.
std::string segment_run_cuda(const SegmentParams& host, int64_t rows, int64_t total_rows);

}  // namespace lockstep::device
