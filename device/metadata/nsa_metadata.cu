// The NSA metadata kernel (one launch, no host loop) on the one CUDA launcher.
#include "device/core/cuda_launch.cuh"
#include "device/metadata/nsa_metadata_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const NsaParams&, const LaunchGrid&);

}  // namespace lockstep::device
