// The gelu_tanh_mul kernel on the one CUDA launcher.
#include "device/activation/gelu_tanh_mul_kernel.h"
#include "device/core/cuda_launch.cuh"

namespace lockstep::device {

template std::string cuda_run(const GeluParams<float, float>&, const LaunchGrid&);
template std::string cuda_run(const GeluParams<bf16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const GeluParams<f16, f16>&, const LaunchGrid&);
template std::string cuda_run(const GeluParams<bf16, float>&, const LaunchGrid&);
template std::string cuda_run(const GeluParams<f16, float>&, const LaunchGrid&);

}  // namespace lockstep::device
