// The kv_sharing kernels (metadata / source layer / slot mapping, and the shared layers' gather) on the one
// CUDA launcher; the attention calls go through ragged_paged_attention.cu.
#include "device/core/cuda_launch.cuh"
#include "device/kvcache/kv_sharing_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const KvSharingMetaParams&, const LaunchGrid&);
template std::string cuda_run(const KvSharingGatherParams<float>&, const LaunchGrid&);
template std::string cuda_run(const KvSharingGatherParams<bf16>&, const LaunchGrid&);
template std::string cuda_run(const KvSharingGatherParams<f16>&, const LaunchGrid&);

}  // namespace lockstep::device
