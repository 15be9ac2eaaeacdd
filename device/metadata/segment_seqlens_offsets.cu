// CUDA launcher of the single-source segment_seqlens_offsets kernel. Host pointers in, host pointers out.
#include "device/core/cuda_scratch.h"
#include "device/metadata/segment_seqlens_offsets_launch.h"

namespace lockstep::device {
namespace {

__global__ void segment_kernel(SegmentParams params) {
  const BlockCtx ctx{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  segment_block(params, ctx, blockIdx.x);
}

}  // namespace

std::string segment_run_cuda(const SegmentParams& host, int64_t rows, int64_t total_rows) {
  CudaScratch s;
  SegmentParams d = host;
  const int64_t nq = total_rows * host.Tq, nk = total_rows * host.Tkv;
  const int64_t nseq = total_rows * (host.thd ? host.S : 1), noff = host.thd ? total_rows * (host.S + 1) : 0;
  d.q_ids = s.upload(host.q_ids, nq);
  d.kv_ids = s.upload(host.kv_ids, nk);
  d.q_pos_in = s.upload(host.q_pos_in, host.q_pos_slices * host.B * host.Tq);
  d.kv_pos_in = s.upload(host.kv_pos_in, host.kv_pos_slices * host.B * host.Tkv);
  d.q_pos = s.upload(host.q_pos, nq);  // uploaded: slices the launch does not cover keep their zeros
  d.kv_pos = s.upload(host.kv_pos, nk);
  d.q_rl = s.alloc<int32_t>(nq);
  d.kv_rl = s.alloc<int32_t>(nk);
  d.row_ids = s.alloc<int32_t>(nq);
  d.col_ids = s.alloc<int32_t>(nk);
  d.q_seqlens = s.upload(host.q_seqlens, nseq);
  d.kv_seqlens = s.upload(host.kv_seqlens, nseq);
  d.q_offsets = s.upload(host.q_offsets, noff);
  d.kv_offsets = s.upload(host.kv_offsets, noff);
  if (s.err != cudaSuccess) return s.error();
  if (rows > 0) segment_kernel<<<static_cast<unsigned>(rows), 128>>>(d);
  s.finish_launches();
  s.download(host.q_pos, d.q_pos, nq);
  s.download(host.kv_pos, d.kv_pos, nk);
  s.download(host.q_seqlens, d.q_seqlens, nseq);
  s.download(host.kv_seqlens, d.kv_seqlens, nseq);
  s.download(host.q_offsets, d.q_offsets, noff);
  s.download(host.kv_offsets, d.kv_offsets, noff);
  return s.error();
}

}  // namespace lockstep::device
