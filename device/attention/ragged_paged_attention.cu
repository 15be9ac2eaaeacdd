// The ragged paged attention step (attention blocks + cache update items) on the one CUDA launcher.
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/core/cuda_launch.cuh"

namespace lockstep::device {

template std::string cuda_run(const RpaParams<float, float>&, const LaunchGrid&);
template std::string cuda_run(const RpaParams<bf16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const RpaParams<f16, f16>&, const LaunchGrid&);
template std::string cuda_run(const RpaParams<bf16, float>&, const LaunchGrid&);
template std::string cuda_run(const RpaParams<f16, float>&, const LaunchGrid&);

}  // namespace lockstep::device
