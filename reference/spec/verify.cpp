#include "reference/spec/verify.h"

#include <vector>

namespace lockstep::reference::spec {

FinishState update_finish_state(int64_t output_len, std::span<const int64_t> new_tokens, int64_t max_new_tokens,
                                int64_t stop_token, int64_t eos_token, bool abort) {
  if (abort) return {SpecFinishReason::abort, -1};
  if (output_len >= max_new_tokens) return {SpecFinishReason::length, max_new_tokens};
  const int64_t first = output_len - static_cast<int64_t>(new_tokens.size());
  for (size_t i = 0; i < new_tokens.size(); ++i) {
    const int64_t tok = new_tokens[i];
    if ((stop_token >= 0 && tok == stop_token) || (eos_token >= 0 && tok == eos_token))
      return {SpecFinishReason::matched_token, first + static_cast<int64_t>(i) + 1};
  }
  return {};
}

void greedy_verify(const SpecVerifyInputs& in, SpecVerifyResult& out) {
  const int64_t n = in.num_draft_tokens;
  for (int64_t b = 0; b < in.bs; ++b) {
    // Chain tree: retrive_index[b,j] = b*N + j, next_token[j] = j + 1, no siblings.
    int64_t last = b * n;
    out.accept_index[b * n] = static_cast<int32_t>(last);
    int64_t c = 0;
    for (int64_t j = 1; j < n; ++j) {
      if (in.candidates[b * n + j] != in.target_predict[last]) break;
      out.predict[last] = in.target_predict[last];
      ++c;
      last = b * n + j;
      out.accept_index[b * n + c] = static_cast<int32_t>(last);
    }
    out.predict[last] = in.target_predict[last];  // bonus token
    out.drafts_accepted[b] = static_cast<int32_t>(c);
  }
}

SpecVerifyResult spec_verify(const SpecVerifyInputs& in) {
  SpecVerifyResult out;
  const int64_t n = in.num_draft_tokens;
  spec_result_resize(out, in.bs, n);
  greedy_verify(in, out);
  for (int64_t b = 0; b < in.bs; ++b) {
    const bool abort = in.flags[b] & kSpecAbort;
    std::vector<int64_t> appended;
    FinishState fin;
    if (in.path == SpecPath::v1) {
      for (int64_t j = 0; j < n; ++j) {
        const int32_t idx = out.accept_index[b * n + j];
        if (idx == -1) break;
        appended.push_back(out.predict[idx]);
        const int64_t tok = appended.back();
        fin = update_finish_state(in.output_len[b] + static_cast<int64_t>(appended.size()), std::span(&tok, 1),
                                  in.max_new_tokens[b], in.stop_token[b], in.eos_token[b], abort);
        if (fin.reason != SpecFinishReason::none) {
          for (int64_t k = j + 1; k < n; ++k) out.accept_index[b * n + k] = -1;
          break;
        }
      }
      out.accept_length[b] = static_cast<int32_t>(appended.size()) - 1;
      out.committed_delta[b] = out.accept_length[b] + 1;
      out.verify_delta[b] = 1;
      out.freed_slots[b] = static_cast<int32_t>(n) - out.committed_delta[b];
      out.allocated_to_committed[b] = 1;
    } else {
      out.accept_length[b] = out.drafts_accepted[b] + 1;
      if (!(in.flags[b] & kSpecSkip)) {
        for (int32_t j = 0; j < out.accept_length[b]; ++j) appended.push_back(out.predict[b * n + j]);
        out.committed_delta[b] = static_cast<int32_t>(appended.size());
        out.verify_delta[b] = 1;
        out.correct_delta[b] = out.accept_length[b] - 1;
        fin = update_finish_state(in.output_len[b] + static_cast<int64_t>(appended.size()), appended,
                                  in.max_new_tokens[b], in.stop_token[b], in.eos_token[b], abort);
      }
    }
    out.num_tokens[b] = static_cast<int32_t>(appended.size());
    for (size_t j = 0; j < appended.size(); ++j) out.tokens[b * 2 * n + j] = appended[j];
    out.finish_reason[b] = static_cast<int32_t>(fin.reason);
    out.finished_len[b] = fin.finished_len;
  }
  return out;
}

}  // namespace lockstep::reference::spec
