// CUDA launcher of the single-source speculative verify kernel. Host pointers in, host pointers out.
#include <cuda_runtime.h>

#include "device/core/cuda_scratch.h"
#include "device/spec/spec_verify_launch.h"

namespace lockstep::device {
namespace {

__global__ void spec_verify_kernel(SpecVerifyParams params) {
  const BlockCtx ctx{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  spec_verify_block(params, ctx);
}

}  // namespace

std::string spec_verify_run_cuda(const SpecVerifyParams& h) {
  CudaScratch s;
  const int64_t bs = h.bs, bn = int64_t{h.bs} * h.n;
  SpecVerifyParams d = h;
  d.candidates = s.upload(h.candidates, bn);
  d.target_predict = s.upload(h.target_predict, bn);
  d.output_len = s.upload(h.output_len, bs);
  d.max_new_tokens = s.upload(h.max_new_tokens, bs);
  d.stop_token = s.upload(h.stop_token, bs);
  d.eos_token = s.upload(h.eos_token, bs);
  d.flags = s.upload(h.flags, bs);
  d.accept_index = s.upload(h.accept_index, bn);
  d.accept_length = s.upload(h.accept_length, bs);
  d.drafts_accepted = s.upload(h.drafts_accepted, bs);
  d.predict = s.upload(h.predict, bn);
  d.flat_tokens = s.upload(h.flat_tokens, bn);
  d.tokens = s.upload(h.tokens, 2 * bn);
  d.num_tokens = s.upload(h.num_tokens, bs);
  d.committed_delta = s.upload(h.committed_delta, bs);
  d.verify_delta = s.upload(h.verify_delta, bs);
  d.correct_delta = s.upload(h.correct_delta, bs);
  d.freed_slots = s.upload(h.freed_slots, bs);
  d.allocated_to_committed = s.upload(h.allocated_to_committed, bs);
  d.finish_reason = s.upload(h.finish_reason, bs);
  d.finished_len = s.upload(h.finished_len, bs);
  if (s.err != cudaSuccess) return s.error();
  spec_verify_kernel<<<1, 32>>>(d);
  s.finish_launches();
  s.download(h.accept_index, d.accept_index, bn);
  s.download(h.accept_length, d.accept_length, bs);
  s.download(h.drafts_accepted, d.drafts_accepted, bs);
  s.download(h.predict, d.predict, bn);
  s.download(h.flat_tokens, d.flat_tokens, bn);
  s.download(h.tokens, d.tokens, 2 * bn);
  s.download(h.num_tokens, d.num_tokens, bs);
  s.download(h.committed_delta, d.committed_delta, bs);
  s.download(h.verify_delta, d.verify_delta, bs);
  s.download(h.correct_delta, d.correct_delta, bs);
  s.download(h.freed_slots, d.freed_slots, bs);
  s.download(h.allocated_to_committed, d.allocated_to_committed, bs);
  s.download(h.finish_reason, d.finish_reason, bs);
  s.download(h.finished_len, d.finished_len, bs);
  return s.error();
}

}  // namespace lockstep::device
