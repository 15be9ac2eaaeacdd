#pragma once
/// Launch contract of the page-table kernel (no Eigen/fmt: included by the .cu file). Host pointers in
/// the params; the CUDA launcher copies them to the GPU and the tables/OOB log back.
#include <string>

#include "device/kvcache/page_table_kernel.h"

namespace lockstep::device {

/// Runs kv_table_block for every row on CUDA; returns "" or the CUDA error.
std::string kv_table_run_cuda(const KvTableParams& params, int64_t req_to_token_len, int64_t oob_capacity);

}  // namespace lockstep::device
