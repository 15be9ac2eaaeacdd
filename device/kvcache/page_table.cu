// The page-table construction + read walk on the one CUDA launcher.
#include "device/core/cuda_launch.cuh"
#include "device/kvcache/page_table_kernel.h"

namespace lockstep::device {

template std::string cuda_run(const KvTableParams&, const LaunchGrid&);

}  // namespace lockstep::device
