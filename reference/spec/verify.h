#pragma once
/// Greedy verification and result bookkeeping of topk = 1 chain speculative decoding (spec §5.1–5.4).
///
/// * `greedy_verify`: VerifyTreeGreedy on a chain: accept_index[b,0] = b*N (the root); draft j is
///   accepted while candidates[b,j] == target_predict[b,j-1]; predict[b*N+j] = target_predict[b,j]
///   for j = 0..c (c accepted drafts + the bonus); c in [0, N-1]. Unwritten predict entries are 0
///   (upstream v1 `empty`, v2 `zeros`: lockstep fixes them to 0 so buffers compare exactly).
/// * `spec_verify` v1 (`EagleVerifyInput.verify`): per request, walk the accept_index row, append
///   predict[idx] to output_ids and run update_finish_state(1) after EACH token; at finish truncate
///   the row; accept_length = (#row entries != -1) - 1 (drafts only, truncated);
///   kv_committed_len += accept_length + 1; kv_allocated_len = kv_committed_len (the rejected verify
///   slots, N - accept_length - 1, are freed); spec_verify_ct += 1 for every request;
///   spec_num_correct_drafts untouched.
/// * `spec_verify` v2 (`_resolve_spec_v2_tokens` + `process_batch_result_decode`): accept_lens = c + 1
///   (bonus included); tokens = predict[b*N : b*N + accept_lens[b]]; unless the request is finished or
///   retracted (kSpecSkip): kv_committed_len += len(tokens), spec_verify_ct += 1,
///   spec_num_correct_drafts += accept_lens - 1, output_ids.extend(tokens) (raw, even past a stop
///   token), then update_finish_state(len(tokens)).
/// * After the step the batch's spec_info is a draft input (requests survive) or an idle draft input
///   (none does) — never the verify input.
#include <cstdint>
#include <span>

#include "core/spec/spec_decode.h"

namespace lockstep::reference::spec {

struct FinishState {
  SpecFinishReason reason = SpecFinishReason::none;
  int64_t finished_len = -1;
};

/// `Req.update_finish_state(new_accepted_len)` (spec §5.4) on a request whose output_ids has
/// `output_len` tokens, the last `new_tokens.size()` of which are `new_tokens`. Upstream order: abort,
/// then LENGTH (`output_len >= max_new_tokens`, finished_len = max_new_tokens), then the stop/eos scan
/// of the new tokens in order (finished_len = pos + 1). A multi-token step that crosses
/// max_new_tokens with a stop token before the boundary therefore finishes with LENGTH.
FinishState update_finish_state(int64_t output_len, std::span<const int64_t> new_tokens, int64_t max_new_tokens,
                                int64_t stop_token, int64_t eos_token, bool abort);

/// Greedy chain verification only (fills accept_index, drafts_accepted, predict).
void greedy_verify(const SpecVerifyInputs& in, SpecVerifyResult& out);

/// Verification plus the path's bookkeeping (v1 or v2).
SpecVerifyResult spec_verify(const SpecVerifyInputs& in);

}  // namespace lockstep::reference::spec
