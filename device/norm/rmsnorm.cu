// The fused RMSNorm family kernel on the one CUDA launcher: inputs T, outputs T / bf16 (triple) / float (the
// oracle's f32-output run).
#include "device/core/cuda_launch.cuh"
#include "device/norm/rmsnorm_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const RmsNormParams<float, float>&, const LaunchGrid&);
template std::string cuda_run(const RmsNormParams<bf16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const RmsNormParams<f16, f16>&, const LaunchGrid&);
template std::string cuda_run(const RmsNormParams<float, bf16>&, const LaunchGrid&);
template std::string cuda_run(const RmsNormParams<f16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const RmsNormParams<bf16, float>&, const LaunchGrid&);
template std::string cuda_run(const RmsNormParams<f16, float>&, const LaunchGrid&);

}  // namespace lockstep::device
