#pragma once
/// Single-source kernels of one speculative decode step (topk = 1 chains): greedy verify (accept
/// index / length, predict buffer, bonus token) and the result bookkeeping of the v1 path
/// (per-token append with finish check and truncation) or the v2 path (per-request token slices of
/// the [bs * N] predict buffer and counters). One block; requests are distributed over threads with
/// block-stride loops; phases are separated by ctx.sync() (device/core/portability.h).
///
/// Layouts (bs requests, N = num_draft_tokens):
///   candidates, target_predict, predict   i64 (bs * N)   row b = request b
///   accept_index                          i32 (bs, N)    flat positions, -1 after the last accepted
///   flat_tokens                           i64 (bs * N)   v1's accept_tokens: predict[accept_index != -1]
///                                                        concatenated, [total_accepted] (rest 0)
///   tokens                                i64 (bs, 2N)   tokens appended to output_ids per request
/// Everything is integer: results compare exactly with the reference.
#include <cstdint>

#include "core/config.h"
#include "core/kernel_enums.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

constexpr int kSpecFaultV1VerifyUnderV2 = 1;
constexpr int kSpecFaultZeroAcceptLeavesVerify = 2;
constexpr int kSpecFaultFlatAcceptTokens = 3;
constexpr int kSpecFaultEosBeforeLength = 4;
constexpr int kSpecFaultBonusNotCounted = 5;
// Faults of the joined model (issue 15) that are not the verify kernel's: the device side of the lockstep
// (oracle/spec/spec_decode.cpp) builds the draft's page tables with the page-table kernel's fault, or runs
// the scheduler with the modelled bug; the verify kernel then runs without a fault.
constexpr int kSpecFaultDraftSwaStateNotSwapped = 6;
constexpr int kSpecFaultDraftClampPageIndex = 7;
constexpr int kSpecFaultDraftPrepareDoubleAllocates = 8;
constexpr int kSpecFaultOverallocationSwaLeak = 9;

inline constexpr Fault kSpecDecodeFaults[] = {
    {"v1_verify_under_v2_scheduler", kSpecFaultV1VerifyUnderV2,
     "seed 004: v2 scheduler over v1's verify: both layers do the bookkeeping (output_ids, kv_committed_len, "
     "spec_verify_ct twice; KV leaks)"},
    {"zero_accept_leaves_verify_input", kSpecFaultZeroAcceptLeavesVerify,
     "seed 004: all drafts rejected and no request surviving leaves the verify input in spec_info"},
    {"flat_accept_tokens_as_per_request", kSpecFaultFlatAcceptTokens,
     "seed 004: v1's flat [total_accepted] accept tokens read with v2's [bs * N] stride"},
    {"eos_before_length", kSpecFaultEosBeforeLength,
     "spec 5.4: update_finish_state checks stop tokens before max_new_tokens (order reversed)"},
    {"bonus_not_counted", kSpecFaultBonusNotCounted, "spec 5.1: v2 accept_lens without the +1 bonus token"},
    {"draft_view_swa_state_not_swapped", kSpecFaultDraftSwaStateNotSwapped,
     "seed 004 Patch E: the draft's pool view swaps the pool but not the backend's SWA state: the draft's sliding "
     "layer reads full-pool page indices from the SWA cache (OOB)"},
    {"draft_view_clamp_page_index", kSpecFaultDraftClampPageIndex,
     "seed 004 PR #5: SWA state not swapped, page indices clamped into the SWA cache: no OOB, wrong pages read, "
     "lower acceptance"},
    {"draft_prepare_double_allocates", kSpecFaultDraftPrepareDoubleAllocates,
     "seed 004: the FROZEN_KV_MTP draft's prepare_for_decode allocates in the target pool it borrows"},
    {"v2_overallocation_not_released_on_swa_evict", kSpecFaultOverallocationSwaLeak,
     "spec 4.3/4.5: after a SWA eviction, releasing a v2 request frees its over-allocation's full slots but not its "
     "SWA slots (stale mapping entries, SWA pool leak)"},
};

// Path, finish reasons and flags: SpecPath, SpecFinishReason, kSpecSkip / kSpecAbort (core/kernel_enums.h).
// The launcher's names for the two paths the kernel runs.
constexpr int32_t kSpecPathV1 = kernel_id(SpecPath::v1);
constexpr int32_t kSpecPathV2 = kernel_id(SpecPath::v2);

struct SpecVerifyParams {
  int32_t bs = 0, n = 1, path = kSpecPathV2, fault = 0;  // path: kernel_id(SpecPath)
  const int64_t* candidates = nullptr;
  const int64_t* target_predict = nullptr;
  const int64_t* output_len = nullptr;
  const int64_t* max_new_tokens = nullptr;
  const int64_t* stop_token = nullptr;
  const int64_t* eos_token = nullptr;
  const int32_t* flags = nullptr;
  // outputs (zero / -1 initialised by the host)
  int32_t* accept_index = nullptr;
  int32_t* accept_length = nullptr;
  int32_t* drafts_accepted = nullptr;
  int64_t* predict = nullptr;
  int64_t* flat_tokens = nullptr;
  int64_t* tokens = nullptr;
  int32_t* num_tokens = nullptr;
  int32_t* committed_delta = nullptr;
  int32_t* verify_delta = nullptr;
  int32_t* correct_delta = nullptr;
  int32_t* freed_slots = nullptr;
  int32_t* allocated_to_committed = nullptr;
  int32_t* finish_reason = nullptr;
  int64_t* finished_len = nullptr;

  /// Every output is downloaded over its host initialisation: the kernel accumulates into the deltas
  /// and writes the token buffers and accept_index only up to what was accepted.
  template <class V>
  void buffers(V& v) {
    const int64_t bn = int64_t{bs} * n;
    v.in(candidates, bn);
    v.in(target_predict, bn);
    v.in(output_len, bs);
    v.in(max_new_tokens, bs);
    v.in(stop_token, bs);
    v.in(eos_token, bs);
    v.in(flags, bs);
    v.inout(accept_index, bn);
    v.inout(accept_length, bs);
    v.inout(drafts_accepted, bs);
    v.inout(predict, bn);
    v.inout(flat_tokens, bn);
    v.inout(tokens, 2 * bn);
    v.inout(num_tokens, bs);
    v.inout(committed_delta, bs);
    v.inout(verify_delta, bs);
    v.inout(correct_delta, bs);
    v.inout(freed_slots, bs);
    v.inout(allocated_to_committed, bs);
    v.inout(finish_reason, bs);
    v.inout(finished_len, bs);
  }
};

/// update_finish_state after `count` new tokens `toks[0..count)` brought output_ids to `len`.
/// Upstream order: abort, LENGTH, then the stop/eos scan (the eos_before_length fault swaps the last two).
LS_HD inline void spec_finish_check(const SpecVerifyParams& p, int32_t b, int64_t len, const int64_t* toks,
                                    int32_t count, int32_t& reason, int64_t& finished_len) {
  reason = kernel_id(SpecFinishReason::none);
  finished_len = -1;
  if (p.flags[b] & kSpecAbort) {
    reason = kernel_id(SpecFinishReason::abort);
    return;
  }
  const bool length_hit = len >= p.max_new_tokens[b];
  if (length_hit && p.fault != kSpecFaultEosBeforeLength) {
    reason = kernel_id(SpecFinishReason::length);
    finished_len = p.max_new_tokens[b];
    return;
  }
  for (int32_t i = 0; i < count; ++i) {
    const int64_t t = toks[i];
    if ((p.stop_token[b] >= 0 && t == p.stop_token[b]) || (p.eos_token[b] >= 0 && t == p.eos_token[b])) {
      reason = kernel_id(SpecFinishReason::matched_token);
      finished_len = len - count + i + 1;
      return;
    }
  }
  if (length_hit) {
    reason = kernel_id(SpecFinishReason::length);
    finished_len = p.max_new_tokens[b];
  }
}

/// Phase 1 (per request): VerifyTreeGreedy on a chain.
LS_HD inline void spec_greedy_verify_item(const SpecVerifyParams& p, int32_t b) {
  const int32_t n = p.n;
  int32_t last = b * n;
  p.accept_index[b * n] = last;
  int32_t c = 0;
  for (int32_t j = 1; j < n; ++j) {
    if (p.candidates[b * n + j] != p.target_predict[last]) break;
    p.predict[last] = p.target_predict[last];
    ++c;
    last = b * n + j;
    p.accept_index[b * n + c] = last;
  }
  p.predict[last] = p.target_predict[last];  // bonus
  p.drafts_accepted[b] = c;
}

/// Phase 2 (per request): v1's flat accept_tokens, [total_accepted] = predict at the accepted rows of
/// every request, concatenated (offset = sum over earlier requests of c + 1).
LS_HD inline void spec_flat_tokens_item(const SpecVerifyParams& p, int32_t b) {
  int32_t off = 0;
  for (int32_t e = 0; e < b; ++e) off += p.drafts_accepted[e] + 1;
  for (int32_t j = 0; j <= p.drafts_accepted[b]; ++j) p.flat_tokens[off + j] = p.predict[p.accept_index[b * p.n + j]];
}

/// v1 bookkeeping of request b, appending after `base` tokens already appended this step.
LS_HD inline void spec_v1_item(const SpecVerifyParams& p, int32_t b, int32_t base) {
  const int32_t n = p.n;
  int64_t* toks = p.tokens + static_cast<int64_t>(b) * 2 * n + base;
  int32_t appended = 0, reason = kernel_id(SpecFinishReason::none);
  int64_t flen = -1;
  for (int32_t j = 0; j < n; ++j) {
    const int32_t idx = p.accept_index[b * n + j];
    if (idx == -1) break;
    toks[appended++] = p.predict[idx];
    spec_finish_check(p, b, p.output_len[b] + base + appended, toks + appended - 1, 1, reason, flen);
    if (reason != kernel_id(SpecFinishReason::none)) {
      for (int32_t k = j + 1; k < n; ++k) p.accept_index[b * n + k] = -1;
      break;
    }
  }
  p.accept_length[b] = appended - 1;
  p.num_tokens[b] = base + appended;
  p.committed_delta[b] += appended;
  p.verify_delta[b] += 1;
  p.freed_slots[b] += n - appended;  // evict_mask: the verify slots that were not accepted
  p.allocated_to_committed[b] = 1;
  p.finish_reason[b] = reason;
  p.finished_len[b] = flen;
}

/// v2 resolution of request b: tokens = next_token_ids[b*N : b*N + accept_lens[b]].
LS_HD inline void spec_v2_item(const SpecVerifyParams& p, int32_t b) {
  const int32_t n = p.n;
  const int32_t c = p.drafts_accepted[b];
  const int32_t accept_lens = p.fault == kSpecFaultBonusNotCounted ? c : c + 1;
  int32_t base = 0;
  if (p.fault == kSpecFaultV1VerifyUnderV2) {
    spec_v1_item(p, b, 0);  // the v1 verify's own bookkeeping, then the v2 scheduler's on top
    base = p.num_tokens[b];
  }
  p.accept_length[b] = accept_lens;
  if ((p.flags[b] & kSpecSkip) || p.finish_reason[b] != kernel_id(SpecFinishReason::none)) return;
  const int64_t* src = p.fault == kSpecFaultFlatAcceptTokens ? p.flat_tokens : p.predict;
  int64_t* toks = p.tokens + static_cast<int64_t>(b) * 2 * n + base;
  for (int32_t j = 0; j < accept_lens; ++j) toks[j] = src[b * n + j];
  p.num_tokens[b] = base + accept_lens;
  p.committed_delta[b] += accept_lens;
  p.verify_delta[b] += 1;
  p.correct_delta[b] += accept_lens - 1;
  int32_t reason = kernel_id(SpecFinishReason::none);
  int64_t flen = -1;
  spec_finish_check(p, b, p.output_len[b] + base + accept_lens, toks, accept_lens, reason, flen);
  p.finish_reason[b] = reason;
  p.finished_len[b] = flen;
}

/// The whole step as one block.
LS_HD inline void spec_verify_block(const SpecVerifyParams& p, const BlockCtx& ctx) {
  LS_FOR_THREADS(ctx, b, p.bs) spec_greedy_verify_item(p, static_cast<int32_t>(b));
  ctx.sync();
  LS_FOR_THREADS(ctx, b, p.bs) spec_flat_tokens_item(p, static_cast<int32_t>(b));
  ctx.sync();
  LS_FOR_THREADS(ctx, b, p.bs) {
    if (p.path == kernel_id(SpecPath::v1)) spec_v1_item(p, static_cast<int32_t>(b), 0);
    else spec_v2_item(p, static_cast<int32_t>(b));
  }
}

/// The kernel body the launcher runs (device/core/launch.h): the whole step is block 0.
LS_HD inline void kernel_block(const SpecVerifyParams& p, const BlockCtx& ctx, int64_t, unsigned char*) {
  spec_verify_block(p, ctx);
}

}  // namespace lockstep::device
