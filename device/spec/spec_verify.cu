// The speculative verify step on the one CUDA launcher.
#include "device/core/cuda_launch.cuh"
#include "device/spec/spec_verify_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const SpecVerifyParams&, const LaunchGrid&);

}  // namespace lockstep::device
