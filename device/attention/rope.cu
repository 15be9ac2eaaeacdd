// The rope kernel on the one CUDA launcher.
#include "device/attention/rope_kernel.h"
#include "device/core/cuda_launch.cuh"

namespace lockstep::device {

template std::string cuda_run(const RopeParams<float, float>&, const LaunchGrid&);
template std::string cuda_run(const RopeParams<bf16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const RopeParams<f16, f16>&, const LaunchGrid&);
template std::string cuda_run(const RopeParams<bf16, float>&, const LaunchGrid&);
template std::string cuda_run(const RopeParams<f16, float>&, const LaunchGrid&);

}  // namespace lockstep::device
