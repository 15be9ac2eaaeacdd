// The moe_routing kernel on the one CUDA launcher: every (gating dtype, scale dtype) pair.
#include "device/core/cuda_launch.cuh"
#include "device/moe/moe_routing_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const MoeRoutingParams<float, float>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<float, bf16>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<float, f16>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<bf16, float>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<bf16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<bf16, f16>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<f16, float>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<f16, bf16>&, const LaunchGrid&);
template std::string cuda_run(const MoeRoutingParams<f16, f16>&, const LaunchGrid&);

}  // namespace lockstep::device
