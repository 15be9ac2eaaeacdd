// CUDA launcher of the single-source NSA metadata kernel: one launch, no host loop, no host sync between
// the inputs and the outputs (the synchronisation below only returns the results to the caller).
#include <string>

#include "device/core/cuda_scratch.h"
#include "device/metadata/nsa_metadata_launch.h"

namespace lockstep::device {
namespace {

__global__ void nsa_kernel(NsaParams params) {
  extern __shared__ __align__(16) unsigned char smem[];
  const BlockCtx ctx{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  nsa_block(params, ctx, blockIdx.x, smem);
}

}  // namespace

std::string nsa_run_cuda(const NsaParams& host) {
  CudaScratch s;
  NsaParams d = host;
  const int64_t m = host.max_tokens;
  d.seq_lens = s.upload(host.seq_lens, host.bs);
  d.extend_lens = s.upload(host.extend_lens, host.bs);
  d.page_table = s.upload(host.page_table, int64_t{host.bs} * host.W);
  d.num_tokens = s.alloc<int32_t>(1);
  d.cache_seqlens = s.alloc<int32_t>(host.bs);
  d.cu_seqlens_k = s.alloc<int32_t>(host.bs + 1);
  d.seqlens_expanded = s.alloc<int32_t>(m);
  d.nsa_cache_seqlens = s.alloc<int32_t>(m);
  d.nsa_cu_seqlens_k = s.alloc<int32_t>(m + 1);
  d.nsa_cu_seqlens_q = s.alloc<int32_t>(m + 1);
  d.page_table_1 = s.alloc<int32_t>(m * host.W);
  d.real_page_table = s.alloc<int32_t>(m * host.Wr);
  if (s.err != cudaSuccess) return s.error();
  const int64_t blocks = nsa_num_blocks(host.max_tokens, host.block_tokens);
  const int64_t smem = nsa_smem_bytes(host.bs);
  int dev = 0, max_smem = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (smem > max_smem) {
    return "prefix sums need " + std::to_string(smem) + " bytes of shared memory, device allows " +
           std::to_string(max_smem);
  }
  cudaFuncSetAttribute(nsa_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  nsa_kernel<<<static_cast<unsigned>(blocks), static_cast<unsigned>(host.block_tokens), static_cast<size_t>(smem)>>>(d);
  s.finish_launches();
  s.download(host.num_tokens, d.num_tokens, 1);
  s.download(host.cache_seqlens, d.cache_seqlens, host.bs);
  s.download(host.cu_seqlens_k, d.cu_seqlens_k, host.bs + 1);
  s.download(host.seqlens_expanded, d.seqlens_expanded, m);
  s.download(host.nsa_cache_seqlens, d.nsa_cache_seqlens, m);
  s.download(host.nsa_cu_seqlens_k, d.nsa_cu_seqlens_k, m + 1);
  s.download(host.nsa_cu_seqlens_q, d.nsa_cu_seqlens_q, m + 1);
  s.download(host.page_table_1, d.page_table_1, m * host.W);
  s.download(host.real_page_table, d.real_page_table, m * host.Wr);
  return s.error();
}

}  // namespace lockstep::device
