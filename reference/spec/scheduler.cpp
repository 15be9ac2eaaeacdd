#include "reference/spec/scheduler.h"

#include <algorithm>

#include <fmt/format.h>

#include "reference/spec/verify.h"

namespace lockstep::reference::spec {

const char* spec_info_name(SpecInfoKind k) { return enum_name(k); }

namespace {

bool mergeable(SpecInfoKind k) {
  return k == SpecInfoKind::none || k == SpecInfoKind::draft_input || k == SpecInfoKind::idle;
}

template <class T>
int64_t size_of(const std::vector<T>& v) {
  return static_cast<int64_t>(v.size());
}

}  // namespace

std::vector<int64_t> Req::visible_output() const {
  if (finished_len < 0 || finished_len >= size_of(output_ids)) return output_ids;
  return {output_ids.begin(), output_ids.begin() + finished_len};
}

SpecScheduler::SpecScheduler(const SpecDecodeCase& c, SpecVerifyFn verify)
    : case_(c),
      verify_(std::move(verify)),
      target_{static_cast<uint64_t>(c.model_seed), c.vocab_size},
      pool_(std::make_unique<TokenPool>(c.pool_size)),
      req_slots_(kSpecMaxRequests, false) {}

std::vector<int64_t> SpecScheduler::greedy_stream(int64_t r, int64_t n) const {
  std::vector<int64_t> prefix = reqs_[r].origin_input_ids;
  return target_.greedy(prefix, n);
}

void SpecScheduler::release_kv_cache(Req& r) {
  // release_kv_cache: the committed part, then the over-allocation [committed, allocated).
  pool_->free(r.kv_committed_len);
  pool_->free(std::max<int64_t>(0, r.kv_allocated_len - r.kv_committed_len));
  r.kv_committed_freed = r.kv_overallocated_freed = true;
  r.prefilled = false;
  if (r.req_pool_idx >= 0) req_slots_[r.req_pool_idx] = false;
  r.req_pool_idx = -1;
}

void SpecScheduler::append_token(Req& r, int64_t tok) {
  r.last_step_start = size_of(r.output_ids);
  r.output_ids.push_back(tok);
  const FinishState f = update_finish_state(size_of(r.output_ids), std::span(&tok, 1), r.max_new_tokens,
                                            r.stop_token_id, r.eos_token_id, r.to_finish_abort);
  r.finished_reason = f.reason;
  r.finished_len = f.finished_len;
}

void SpecScheduler::remove_from_batch(Batch& b, size_t slot) {
  b.reqs.erase(b.reqs.begin() + slot);
  b.seq_lens.erase(b.seq_lens.begin() + slot);
  b.req_pool_indices.erase(b.req_pool_indices.begin() + slot);
}

int64_t SpecScheduler::uncached() const {
  int64_t u = 0;
  for (const Req& r : reqs_)
    if (r.prefilled && !r.kv_committed_freed) u += r.kv_allocated_len;
  return u;
}

void SpecScheduler::prefill(int64_t max_reqs) {
  if (size_of(batches_) >= kSpecMaxBatches || waiting_.empty()) return;
  Batch b;
  b.spec_info = case_.path == SpecPath::plain ? SpecInfoKind::none : SpecInfoKind::draft_input;
  while (!waiting_.empty() && size_of(b.reqs) < max_reqs) {
    Req& r = reqs_[waiting_.front()];
    std::vector<int64_t> fill = r.origin_input_ids;
    fill.insert(fill.end(), r.output_ids.begin(), r.output_ids.end());
    if (!pool_->alloc(size_of(fill))) break;
    waiting_.erase(waiting_.begin());
    int64_t slot = 0;
    while (req_slots_[slot]) ++slot;
    req_slots_[slot] = true;
    r.req_pool_idx = slot;
    r.is_retracted = false;
    r.prefilled = true;
    r.kv_committed_freed = r.kv_overallocated_freed = false;
    r.kv_committed_len = r.kv_allocated_len = size_of(fill);  // prepare_for_extend
    append_token(r, target_.next(fill));
    b.reqs.push_back(r.rid);
    b.seq_lens.push_back(size_of(fill));
    b.req_pool_indices.push_back(slot);
    if (r.finished()) release_kv_cache(r);
  }
  if (!b.reqs.empty()) batches_.push_back(std::move(b));
}

std::vector<std::string> SpecScheduler::decode(Batch& batch, const SpecCommand& cmd, int64_t step) {
  std::vector<std::string> v;
  const std::string where = fmt::format("step {} {}", step, cmd.describe());
  if (!mergeable(batch.spec_info)) {
    v.push_back(fmt::format("{}: batch spec_info is {} (a verify input has no filter_batch/merge_batch: "
                            "AttributeError upstream); step skipped",
                            where, spec_info_name(batch.spec_info)));
    return v;
  }
  if (case_.path != SpecPath::v2) filter_batch(batch);  // update_running_batch
  if (batch.reqs.empty()) return v;
  if (!prepare_for_decode(batch, where, v)) return v;
  if (case_.path == SpecPath::plain) {
    process_batch_result_decode(batch);
    return v;
  }
  const SpecVerifyInputs in = build_verify_inputs(batch, cmd);
  batch.spec_info = SpecInfoKind::verify_input;
  last_verify_ = verify_(in);
  last_bs_ = in.bs;
  process_verify_result(batch, in, last_verify_, where, v);
  return v;
}

void SpecScheduler::filter_batch(Batch& batch) {
  for (size_t i = batch.reqs.size(); i-- > 0;)
    if (reqs_[batch.reqs[i]].finished()) remove_from_batch(batch, i);
}

bool SpecScheduler::prepare_for_decode(Batch& batch, const std::string& where, std::vector<std::string>& v) {
  const int64_t bs = size_of(batch.reqs), n = case_.num_draft_tokens;
  std::vector<int64_t> alloc(bs, 0);
  int64_t need = 0;
  for (int64_t b = 0; b < bs; ++b) {
    const Req& r = reqs_[batch.reqs[b]];
    if (r.finished()) continue;
    if (case_.path == SpecPath::plain) alloc[b] = 1;
    else if (case_.path == SpecPath::v1) alloc[b] = n;
    else alloc[b] = std::max<int64_t>(0, r.kv_committed_len + 2 * n - r.kv_allocated_len);
    need += alloc[b];
  }
  if (!pool_->alloc(need)) {
    ++stats_.oom_skips;
    return false;
  }
  ++stats_.decode_steps;
  for (int64_t b = 0; b < bs; ++b) {
    Req& r = reqs_[batch.reqs[b]];
    r.kv_allocated_len += alloc[b];
    if (case_.path == SpecPath::plain) r.kv_committed_len += 1;
    if (case_.path == SpecPath::v2 && !r.finished() && r.kv_allocated_len != r.kv_committed_len + 2 * n)
      v.push_back(fmt::format("{}: req {} kv_allocated_len: {} after prepare_for_decode, kv_committed_len + 2A = {}",
                              where, r.rid, r.kv_allocated_len, r.kv_committed_len + 2 * n));
  }
  return true;
}

void SpecScheduler::process_batch_result_decode(Batch& batch) {
  for (size_t b = 0; b < batch.reqs.size(); ++b) {
    Req& r = reqs_[batch.reqs[b]];
    std::vector<int64_t> prefix = r.origin_input_ids;
    prefix.insert(prefix.end(), r.output_ids.begin(), r.output_ids.end());
    append_token(r, target_.next(prefix));
    batch.seq_lens[b] += 1;
    if (r.finished()) release_kv_cache(r);
  }
}

SpecVerifyInputs SpecScheduler::build_verify_inputs(const Batch& batch, const SpecCommand& cmd) const {
  const int64_t bs = size_of(batch.reqs), n = case_.num_draft_tokens;
  SpecVerifyInputs in;
  in.path = case_.path;
  in.bs = bs;
  in.num_draft_tokens = n;
  const auto pattern = static_cast<SpecAcceptPattern>(cmd.b);
  for (int64_t b = 0; b < bs; ++b) {
    const Req& r = reqs_[batch.reqs[b]];
    std::vector<int64_t> prefix = r.origin_input_ids;
    prefix.insert(prefix.end(), r.output_ids.begin(), r.output_ids.end());
    // A pure function of the command and the request (not of the step index), so deleting earlier
    // commands while shrinking leaves later decode steps' acceptance unchanged.
    const int64_t k = toy_accept_count(pattern, cmd.c, r.rid, b, bs, n);
    const std::vector<int64_t> drafts =
        toy_drafts(target_, prefix, n, k, spec_mix(static_cast<uint64_t>(cmd.c) * 131 + r.rid));
    in.candidates.push_back(r.output_ids.back());
    in.candidates.insert(in.candidates.end(), drafts.begin(), drafts.end());
    for (int64_t j = 0; j < n; ++j) {
      in.target_predict.push_back(target_.next(prefix));
      if (j + 1 < n) prefix.push_back(drafts[j]);
    }
    in.output_len.push_back(size_of(r.output_ids));
    in.max_new_tokens.push_back(r.max_new_tokens);
    in.stop_token.push_back(r.stop_token_id);
    in.eos_token.push_back(r.eos_token_id);
    in.flags.push_back((r.finished() || r.is_retracted ? kSpecSkip : 0) | (r.to_finish_abort ? kSpecAbort : 0));
  }
  return in;
}

bool SpecScheduler::apply_request_result(Req& r, const SpecVerifyResult& res, int64_t b) {
  const int64_t n = case_.num_draft_tokens;
  const int64_t nt = std::clamp<int64_t>(res.num_tokens[b], 0, 2 * n);
  if (nt > 0) r.last_step_start = size_of(r.output_ids);
  for (int64_t j = 0; j < nt; ++j) r.output_ids.push_back(res.tokens[b * 2 * n + j]);
  r.kv_committed_len += res.committed_delta[b];
  r.spec_verify_ct += res.verify_delta[b];
  r.spec_num_correct_drafts += res.correct_delta[b];
  pool_->free(res.freed_slots[b]);
  if (res.allocated_to_committed[b]) r.kv_allocated_len = r.kv_committed_len;
  const bool newly_finished = !r.finished() && res.finish_reason[b] != kernel_id(SpecFinishReason::none);
  if (newly_finished) {
    r.finished_reason = static_cast<SpecFinishReason>(res.finish_reason[b]);
    r.finished_len = res.finished_len[b];
  }
  return newly_finished;
}

void SpecScheduler::check_request_step(const Req& r, const ReqCounters& before, int64_t al, bool skip,
                                       const std::string& at, StepTally& tally, std::vector<std::string>& v) const {
  const int64_t n = case_.num_draft_tokens;
  const int64_t d_o = size_of(r.output_ids) - before.output_len, d_ct = r.spec_verify_ct - before.spec_verify_ct,
                d_cd = r.spec_num_correct_drafts - before.spec_num_correct_drafts;
  if (case_.path == SpecPath::v1) {
    if (al < 0 || al > n - 1) v.push_back(fmt::format("{} accept_length: {} outside [0, {}]", at, al, n - 1));
    if (d_o != al + 1) v.push_back(fmt::format("{} output_ids: grew by {}, accept_length + 1 = {}", at, d_o, al + 1));
    if (d_ct != 1) v.push_back(fmt::format("{} spec_verify_ct: changed by {}, expected 1", at, d_ct));
  } else if (!skip) {
    if (al < 1 || al > n) v.push_back(fmt::format("{} accept_lens: {} outside [1, {}]", at, al, n));
    if (d_o != al) v.push_back(fmt::format("{} output_ids: grew by {}, accept_lens = {}", at, d_o, al));
    if (d_ct != 1) v.push_back(fmt::format("{} spec_verify_ct: changed by {}, expected 1", at, d_ct));
    if (d_cd != al - 1)
      v.push_back(fmt::format("{} spec_num_correct_drafts: changed by {}, accept_lens - 1 = {}", at, d_cd, al - 1));
    tally.sum_correct += d_cd;
    tally.sum_accept += al;
    ++tally.settled;
  } else if (d_o != 0 || d_ct != 0 || d_cd != 0) {
    v.push_back(fmt::format("{} settled a finished/retracted request (output_ids +{}, spec_verify_ct +{})", at, d_o,
                            d_ct));
  }
}

void SpecScheduler::record_verify(int64_t drafts_accepted, StepTally& tally) {
  ++stats_.verifies;
  ++tally.verified;
  stats_.accepted_drafts += drafts_accepted;
  if (drafts_accepted == 0) ++stats_.zero_accept_verifies;
  else tally.all_zero = false;
  accept_trace_.push_back(drafts_accepted);
}

void SpecScheduler::count_length_over_stop(const Req& r) {
  for (int64_t p = r.last_step_start; p < r.max_new_tokens && p < size_of(r.output_ids); ++p) {
    const int64_t t = r.output_ids[p];
    if ((t == r.stop_token_id && t >= 0) || (t == r.eos_token_id && t >= 0)) {
      ++stats_.length_over_stop;
      return;
    }
  }
}

void SpecScheduler::process_verify_result(Batch& batch, const SpecVerifyInputs& in, const SpecVerifyResult& res,
                                          const std::string& where, std::vector<std::string>& v) {
  StepTally tally;
  bool survivors = false;
  for (int64_t b = 0; b < in.bs; ++b) {
    Req& r = reqs_[batch.reqs[b]];
    const bool skip = in.flags[b] & kSpecSkip;
    const ReqCounters before{size_of(r.output_ids), r.spec_verify_ct, r.spec_num_correct_drafts};
    const bool newly_finished = apply_request_result(r, res, b);
    const int64_t al = res.accept_length[b];
    batch.seq_lens[b] += case_.path == SpecPath::v1 ? al + 1 : al;
    check_request_step(r, before, al, skip, fmt::format("{}: req {}", where, r.rid), tally, v);
    if (!skip || case_.path == SpecPath::v1) record_verify(res.drafts_accepted[b], tally);
    if (newly_finished) {
      if (case_.path == SpecPath::v2 && r.finished_reason == SpecFinishReason::length) count_length_over_stop(r);
      release_kv_cache(r);
    }
    if (!r.finished()) survivors = true;
  }
  if (case_.path == SpecPath::v2 && tally.sum_correct != tally.sum_accept - tally.settled)
    v.push_back(fmt::format("{}: sum of spec_num_correct_drafts deltas {} != sum(accept_lens) - bs = {}", where,
                            tally.sum_correct, tally.sum_accept - tally.settled));
  if (tally.all_zero && tally.verified > 0) ++stats_.zero_accept_steps;
  // The worker's draft extend (a draft-extend input, internal to the step) leaves the next draft input,
  // or an idle draft input when no request survives.
  batch.spec_info = survivors ? SpecInfoKind::draft_input : SpecInfoKind::idle;
  if (res.leaves_verify_input) batch.spec_info = SpecInfoKind::verify_input;
}

std::vector<std::string> SpecScheduler::apply(const SpecCommand& cmd, int64_t step) {
  std::vector<std::string> v;
  const int64_t nb = size_of(batches_);
  switch (cmd.kind) {
    case SpecCommandKind::add_request: {
      if (size_of(reqs_) >= kSpecMaxRequests) break;
      Req r;
      r.rid = size_of(reqs_);
      r.origin_input_ids = toy_prompt(static_cast<uint64_t>(case_.model_seed), case_.vocab_size, cmd.a, cmd.d);
      r.max_new_tokens = cmd.b;
      r.stop_token_id = cmd.c;
      r.eos_token_id = case_.eos_token_id;
      reqs_.push_back(std::move(r));
      waiting_.push_back(reqs_.back().rid);
      break;
    }
    case SpecCommandKind::prefill: prefill(cmd.a); break;
    case SpecCommandKind::decode: {
      last_bs_ = 0;
      if (nb == 0) break;
      v = decode(batches_[cmd.a % nb], cmd, step);
      break;
    }
    case SpecCommandKind::merge: {
      if (nb < 2) break;
      const int64_t i = cmd.a % nb;
      int64_t j = cmd.b % nb;
      if (j == i) j = (i + 1) % nb;
      Batch& a = batches_[i];
      Batch& b = batches_[j];
      if (!mergeable(a.spec_info) || !mergeable(b.spec_info)) {
        v.push_back(fmt::format("step {} {}: merge_batch with spec_info {} <- {} (a verify input has no "
                                "merge_batch: AttributeError upstream); merge skipped",
                                step, cmd.describe(), spec_info_name(a.spec_info), spec_info_name(b.spec_info)));
        break;
      }
      a.reqs.insert(a.reqs.end(), b.reqs.begin(), b.reqs.end());
      a.seq_lens.insert(a.seq_lens.end(), b.seq_lens.begin(), b.seq_lens.end());
      a.req_pool_indices.insert(a.req_pool_indices.end(), b.req_pool_indices.begin(), b.req_pool_indices.end());
      if (a.spec_info == SpecInfoKind::draft_input || b.spec_info == SpecInfoKind::draft_input)
        a.spec_info = SpecInfoKind::draft_input;
      else if (a.spec_info == SpecInfoKind::idle || b.spec_info == SpecInfoKind::idle)
        a.spec_info = SpecInfoKind::idle;
      batches_.erase(batches_.begin() + j);
      break;
    }
    case SpecCommandKind::filter: {
      if (nb == 0) break;
      const int64_t i = cmd.a % nb;
      Batch& b = batches_[i];
      if (!mergeable(b.spec_info)) {
        v.push_back(fmt::format("step {} {}: filter_batch with spec_info {} (AttributeError upstream); filter skipped",
                                step, cmd.describe(), spec_info_name(b.spec_info)));
        break;
      }
      filter_batch(b);
      break;
    }
    case SpecCommandKind::abort: {
      if (reqs_.empty()) break;
      Req& r = reqs_[cmd.a % size_of(reqs_)];
      if (r.finished()) break;
      r.to_finish_abort = true;
      auto w = std::find(waiting_.begin(), waiting_.end(), r.rid);
      if (w != waiting_.end()) {
        waiting_.erase(w);
        r.finished_reason = SpecFinishReason::abort;
      }
      break;
    }
    case SpecCommandKind::retract: {
      if (nb == 0) break;
      Batch& b = batches_[cmd.a % nb];
      if (b.reqs.empty()) break;
      const size_t slot = static_cast<size_t>(cmd.b % size_of(b.reqs));
      Req& r = reqs_[b.reqs[slot]];
      if (r.finished()) break;
      pool_->free(r.kv_allocated_len);
      r.kv_committed_len = r.kv_allocated_len = 0;
      r.prefilled = false;
      r.is_retracted = true;
      req_slots_[r.req_pool_idx] = false;
      r.req_pool_idx = -1;
      remove_from_batch(b, slot);
      waiting_.push_back(r.rid);
      break;
    }
  }
  // A batch left without requests (filter, retract, v1's pre-step filter) is gone.
  std::erase_if(batches_, [](const Batch& b) { return b.reqs.empty(); });
  return v;
}

std::vector<std::string> SpecScheduler::check_invariants(int64_t step, const std::string& cmd) const {
  std::vector<std::string> v;
  const std::string where = fmt::format("step {} {}", step, cmd);
  for (size_t bi = 0; bi < batches_.size(); ++bi) {
    const Batch& b = batches_[bi];
    if (!mergeable(b.spec_info))
      v.push_back(fmt::format("{}: batch {} spec_info: {} between steps (must be a draft input, idle or none)", where,
                              bi, spec_info_name(b.spec_info)));
    for (size_t s = 0; s < b.reqs.size(); ++s) {
      const Req& r = reqs_[b.reqs[s]];
      if (r.finished()) continue;
      if (b.seq_lens[s] != r.kv_committed_len)
        v.push_back(fmt::format("{}: req {} seq_len: batch {} seq_lens = {} != kv_committed_len = {}", where, r.rid,
                                bi, b.seq_lens[s], r.kv_committed_len));
      if (b.req_pool_indices[s] != r.req_pool_idx)
        v.push_back(fmt::format("{}: req {} req_pool_idx: batch says {}, request holds {}", where, r.rid,
                                b.req_pool_indices[s], r.req_pool_idx));
    }
  }
  int64_t slots_held = 0;
  for (const Req& r : reqs_) {
    const int64_t p = size_of(r.origin_input_ids), o = size_of(r.output_ids);
    auto at = [&] { return fmt::format("{}: req {}", where, r.rid); };  // formatted only for a violation
    slots_held += r.req_pool_idx >= 0;
    if (!r.finished() && r.prefilled) {
      if (r.kv_committed_len != p + o - 1)
        v.push_back(fmt::format("{} kv_committed_len: {} != len(origin) + len(output_ids) - 1 = {}", at(),
                                r.kv_committed_len, p + o - 1));
      if (r.kv_allocated_len < r.kv_committed_len)
        v.push_back(fmt::format("{} kv_allocated_len: {} < kv_committed_len {}", at(), r.kv_allocated_len,
                                r.kv_committed_len));
    }
    if (!r.finished()) {
      if (o >= r.max_new_tokens)
        v.push_back(fmt::format("{} finished_reason: live with {} output tokens >= max_new_tokens {}", at(), o,
                                r.max_new_tokens));
      for (int64_t t : r.output_ids)
        if ((t == r.stop_token_id || t == r.eos_token_id) && t >= 0) {
          v.push_back(fmt::format("{} finished_reason: live with stop token {} in output_ids", at(), t));
          break;
        }
    } else if (r.finished_reason != SpecFinishReason::abort || r.req_pool_idx >= 0) {
      if (r.kv_committed_freed != r.kv_overallocated_freed || (r.finished_reason != SpecFinishReason::abort &&
                                                               !r.kv_committed_freed))
        v.push_back(fmt::format("{} kv_committed_freed: finished without its KV released", at()));
    }
    // Greedy equivalence: every emitted token is the target's greedy token.
    const std::vector<int64_t> g = greedy_stream(r.rid, std::max(o, r.max_new_tokens));
    for (int64_t i = 0; i < o; ++i)
      if (r.output_ids[i] != g[i]) {
        v.push_back(fmt::format("{} output_ids[{}]: {} != greedy target token {}", at(), i, r.output_ids[i], g[i]));
        break;
      }
    if (r.finished() && r.finished_reason != SpecFinishReason::abort) {
      int64_t stop_at = -1;
      for (int64_t i = 0; i < r.max_new_tokens; ++i)
        if ((g[i] == r.stop_token_id || g[i] == r.eos_token_id) && g[i] >= 0) {
          stop_at = i;
          break;
        }
      const int64_t greedy_len = stop_at >= 0 ? stop_at + 1 : r.max_new_tokens;
      const int64_t vis = size_of(r.visible_output());
      // v2 only: LENGTH checked before the stop scan masks a stop inside the final multi-token step.
      const bool length_edge = case_.path == SpecPath::v2 && r.finished_reason == SpecFinishReason::length &&
                               stop_at >= r.last_step_start && vis == r.max_new_tokens;
      if (vis != greedy_len && !length_edge)
        v.push_back(fmt::format("{} finished_len: visible output has {} tokens ({}), plain greedy decoding gives {}",
                                at(), vis, enum_name(r.finished_reason), greedy_len));
    }
  }
  int64_t waiting_holding = 0;
  for (int64_t w : waiting_) waiting_holding += reqs_[w].prefilled;
  if (waiting_holding > 0) v.push_back(fmt::format("{}: {} waiting request(s) still hold KV", where, waiting_holding));
  const PoolCounters pc = pool_->counters();
  const int64_t unc = uncached();
  if (pc.available + pc.evictable + pc.protected_size + pc.session_held + unc != pc.total)
    v.push_back(fmt::format("{}: pool memory leak detected! [full] total={}, available={}, evictable={}, "
                            "protected={}, session_held={}, uncached={}",
                            where, pc.total, pc.available, pc.evictable, pc.protected_size, pc.session_held, unc));
  int64_t holding = 0;
  for (const Req& r : reqs_) holding += r.prefilled;
  if (slots_held != holding)
    v.push_back(fmt::format("{}: req_to_token_pool memory leak detected! {} slots taken, {} requests hold KV", where,
                            slots_held, holding));
  return v;
}

SpecDecodeOutputs SpecScheduler::outputs() const {
  SpecDecodeOutputs o;
  const auto r = static_cast<int64_t>(reqs_.size());
  // One (R) i64 column per scalar request field.
  auto column = [&](auto member) {
    std::vector<int64_t> c;
    for (const Req& q : reqs_) c.push_back(static_cast<int64_t>(q.*member));
    return Tensor::from<int64_t>({r}, c);
  };
  std::vector<int64_t> ids, offs{0};
  for (const Req& q : reqs_) {
    ids.insert(ids.end(), q.output_ids.begin(), q.output_ids.end());
    offs.push_back(size_of(ids));
  }
  o.output_ids = Tensor::from<int64_t>({size_of(ids)}, ids);
  o.output_offsets = Tensor::from<int64_t>({r + 1}, offs);
  o.finish_reason = column(&Req::finished_reason);
  o.finished_len = column(&Req::finished_len);
  o.kv_committed_len = column(&Req::kv_committed_len);
  o.kv_allocated_len = column(&Req::kv_allocated_len);
  o.spec_verify_ct = column(&Req::spec_verify_ct);
  o.spec_num_correct_drafts = column(&Req::spec_num_correct_drafts);
  o.accept_trace = Tensor::from<int64_t>({size_of(accept_trace_)}, accept_trace_);
  o.pool_available = pool_->counters().available;
  return o;
}

}  // namespace lockstep::reference::spec
