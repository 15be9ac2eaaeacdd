// The per-head q/k/v RMSNorm kernel on the one CUDA launcher.
#include "device/core/cuda_launch.cuh"
#include "device/norm/qkv_rmsnorm_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const QkvNormParams<float, float>&, const LaunchGrid&);
template std::string cuda_run(const QkvNormParams<bf16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const QkvNormParams<f16, f16>&, const LaunchGrid&);
template std::string cuda_run(const QkvNormParams<bf16, float>&, const LaunchGrid&);
template std::string cuda_run(const QkvNormParams<f16, float>&, const LaunchGrid&);

}  // namespace lockstep::device
