// The segment_seqlens_offsets kernel on the one CUDA launcher.
#include "device/core/cuda_launch.cuh"
#include "device/metadata/segment_seqlens_offsets_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const SegmentParams&, const LaunchGrid&);

}  // namespace lockstep::device
