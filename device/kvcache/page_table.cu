// CUDA launcher of the single-source page-table kernel. Host pointers in, host pointers out.
#include <cuda_runtime.h>

#include <vector>

#include "device/core/cuda_scratch.h"
#include "device/kvcache/page_table_launch.h"

namespace lockstep::device {
namespace {

__global__ void kv_table_kernel(KvTableParams params) {
  const BlockCtx ctx{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  kv_table_block(params, ctx, blockIdx.x);
}

}  // namespace

std::string kv_table_run_cuda(const KvTableParams& host, int64_t req_to_token_len, int64_t oob_capacity) {
  CudaScratch s;
  KvTableParams a = host;
  const int64_t cells = int64_t{host.batch} * host.cols;
  a.req_to_token = s.upload(host.req_to_token, req_to_token_len);
  a.req_pool_indices = s.upload(host.req_pool_indices, host.batch);
  a.cache_seqlens = s.upload(host.cache_seqlens, host.batch);
  a.q_lens = s.upload(host.q_lens, host.batch);
  a.mapping = s.upload(host.mapping, host.mapping_len);
  a.page_table = s.upload(host.page_table, cells);
  a.swa_page_table = s.upload(host.swa_page_table, cells);
  a.oob.records = s.upload(host.oob.records, oob_capacity);
  a.oob.count = s.upload(host.oob.count, 1);
  if (s.err != cudaSuccess) return s.error();
  if (host.batch > 0) kv_table_kernel<<<static_cast<unsigned>(host.batch), 128>>>(a);
  s.finish_launches();
  s.download(host.page_table, a.page_table, cells);
  s.download(host.swa_page_table, a.swa_page_table, cells);
  s.download(host.oob.records, a.oob.records, oob_capacity);
  s.download(host.oob.count, a.oob.count, 1);
  return s.error();
}

}  // namespace lockstep::device
