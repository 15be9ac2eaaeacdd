// CUDA launcher of the single-source ragged paged attention kernel. Host pointers in, host pointers out.
#include <cuda_runtime.h>

#include <vector>

#include "device/attention/ragged_paged_attention_launch.h"
#include "device/core/cuda_scratch.h"

namespace lockstep::device {
namespace {

template <class T, class O>
__global__ void rpa_kernel(RpaParams<T, O> params) {
  extern __shared__ __align__(16) unsigned char smem[];
  const BlockCtx ctx{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  rpa_block(params, ctx, blockIdx.x, smem);
}

template <class T>
__global__ void rpa_cache_kernel(RpaCacheParams<T> params, int64_t items) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < items; e += int64_t{gridDim.x} * blockDim.x)
    rpa_cache_update_item(params, e);
}

}  // namespace

template <class T, class O>
std::string rpa_run_cuda(const RpaParams<T, O>& host, const RpaCacheParams<T>& host_cache, const RpaSizes& n) {
  CudaScratch s;
  RpaParams<T, O> a = host;
  a.q = s.upload(host.q, n.q);
  a.k = s.upload(host.k, n.kv_new);
  a.v = s.upload(host.v, n.kv_new);
  a.kv_cache = s.upload(host.kv_cache, n.cache);
  a.out = s.upload(host.out, n.q);
  a.kv_lens = s.upload(host.kv_lens, n.seqs_padded);
  a.cu_q_lens = s.upload(host.cu_q_lens, n.seqs_padded + 1);
  a.cu_kv_lens = s.upload(host.cu_kv_lens, n.seqs_padded + 1);
  a.custom_mask = s.upload(host.custom_mask, n.custom_mask);
  a.mask_offsets = s.upload(host.mask_offsets, n.seqs_padded);
  a.prefix_end = s.upload(host.prefix_end, n.seqs_padded);
  a.seg_starts_blocked = s.upload(host.seg_starts_blocked, n.seg_blocked);
  a.block_seq = s.upload(host.block_seq, host.num_blocks);
  a.block_idx = s.upload(host.block_idx, host.num_blocks);
  a.kv.page_indices = s.upload(host.kv.page_indices, n.page_slots);
  a.kv.oob.records = s.upload(host.kv.oob.records, n.oob_capacity);
  a.kv.oob.count = s.upload(host.kv.oob.count, 1);
  RpaCacheParams<T> u = host_cache;
  u.k = a.k;
  u.v = a.v;
  u.cache_out = s.upload(host_cache.cache_out, n.cache);
  u.kv_lens = a.kv_lens;
  u.cu_q_lens = a.cu_q_lens;
  u.cu_kv_lens = a.cu_kv_lens;
  u.kv = a.kv;
  if (s.err != cudaSuccess) return s.error();

  const int32_t G = a.num_q_heads / a.num_kv_heads;
  const int64_t smem = rpa_smem_bytes(a.block_q, G, a.block_kv, a.head_dim);
  int dev = 0, max_smem = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (smem > max_smem) {
    return "tile needs " + std::to_string(smem) + " bytes of shared memory, device allows " +
           std::to_string(max_smem) + " (reduce block_q or block_kv_pages)";
  }
  cudaFuncSetAttribute(rpa_kernel<T, O>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  const int64_t blocks = int64_t{a.num_blocks} * a.num_kv_heads;
  if (blocks > 0) rpa_kernel<T, O><<<static_cast<unsigned>(blocks), 128, smem>>>(a);
  if (n.cache_items > 0) {
    const int64_t grid = (n.cache_items + 255) / 256 < 65535 ? (n.cache_items + 255) / 256 : 65535;
    rpa_cache_kernel<T><<<static_cast<unsigned>(grid), 256>>>(u, n.cache_items);
  }
  s.finish_launches();
  s.download(host.out, a.out, n.q);
  s.download(host_cache.cache_out, u.cache_out, n.cache);
  s.download(host.kv.oob.records, a.kv.oob.records, n.oob_capacity);
  s.download(host.kv.oob.count, a.kv.oob.count, 1);
  return s.error();
}

template std::string rpa_run_cuda(const RpaParams<float, float>&, const RpaCacheParams<float>&, const RpaSizes&);
template std::string rpa_run_cuda(const RpaParams<bf16, bf16>&, const RpaCacheParams<bf16>&, const RpaSizes&);
template std::string rpa_run_cuda(const RpaParams<f16, f16>&, const RpaCacheParams<f16>&, const RpaSizes&);
template std::string rpa_run_cuda(const RpaParams<bf16, float>&, const RpaCacheParams<bf16>&, const RpaSizes&);
template std::string rpa_run_cuda(const RpaParams<f16, float>&, const RpaCacheParams<f16>&, const RpaSizes&);

}  // namespace lockstep::device
