#include "reference/spec/scheduler.h"

#include <algorithm>

#include <fmt/format.h>

#include "reference/kvcache/page_table.h"
#include "reference/spec/verify.h"

namespace lockstep::reference::spec {

const char* spec_info_name(SpecInfoKind k) { return enum_name(k); }

const char* attn_call_name(AttnCall c) {
  switch (c) {
    case AttnCall::target_decode: return "target decode";
    case AttnCall::draft: return "draft";
    case AttnCall::target_verify: return "target verify";
  }
  return "?";
}

uint64_t kv_value(int64_t token, int64_t position) {
  return spec_mix(static_cast<uint64_t>(position) * 0x51ed27ull + 0xc0ffeeull) ^ static_cast<uint64_t>(token);
}

int64_t kv_token(uint64_t value, int64_t position) {
  // A value written for another position (or never written) decodes to a number far outside any vocabulary:
  // the draft then predicts from a wrong prefix.
  return static_cast<int64_t>(value ^ spec_mix(static_cast<uint64_t>(position) * 0x51ed27ull + 0xc0ffeeull));
}

TableCheck reference_tables(const PageTableInput& in, const ReadWindow& w, AttnCall) {
  TableCheck t;
  t.tables = kvcache::build_page_tables(in);
  for (const kvcache::TableEntry& e : kvcache::validate_page_tables(t.tables, in.cache_seqlens, in.q_lens, w)) {
    ++t.oob_reads;
    t.bad.push_back(kvcache::describe(e));
  }
  return t;
}

namespace {

int64_t ceil_align(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

kvcache::KvConfig kv_config(const SpecDecodeCase& c) {
  kvcache::KvConfig k;
  k.full_size = c.pool_size;
  k.swa_size = c.swa_pool_size;
  k.page_size = c.page_size;
  k.window = c.sliding_window;
  k.req_slots = kSpecMaxRequests;
  k.max_context = kSpecMaxContext;
  return k;
}

/// §2.5 source-layer rule by type: a draft layer of type t reads the last target layer of type t.
std::vector<int64_t> owner_map() {
  std::vector<int64_t> owner;
  for (LayerType t : kSpecDraftLayers) {
    int64_t src = -1;
    for (size_t j = 0; j < kSpecTargetLayers.size(); ++j)
      if (kSpecTargetLayers[j] == t) src = static_cast<int64_t>(j);
    owner.push_back(src);
  }
  return owner;
}

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

SpecScheduler::SpecScheduler(const SpecDecodeCase& c, SpecSide side)
    : case_(c),
      side_(std::move(side)),
      target_{static_cast<uint64_t>(c.model_seed), c.vocab_size},
      mem_(kv_config(c)),
      full_kv_(static_cast<size_t>((mem_.allocator().full().num_pages() + 1) * c.page_size), 0),
      swa_kv_(static_cast<size_t>((mem_.allocator().swa().num_pages() + 1) * c.page_size), 0),
      draft_owner_(owner_map()) {}

SpecScheduler::SpecScheduler(const SpecDecodeCase& c, SpecVerifyFn verify)
    : SpecScheduler(c, SpecSide{std::move(verify)}) {}

std::vector<int64_t> SpecScheduler::greedy_stream(int64_t r, int64_t n) const {
  std::vector<int64_t> prefix = reqs_[r].origin_input_ids;
  return target_.greedy(prefix, n);
}

void SpecScheduler::release_kv_cache(Req& r) {
  // release_kv_cache: the over-allocation [committed, allocated), then the committed part (both pools).
  if (r.kv_id >= 0) {
    const auto id = static_cast<int32_t>(r.kv_id);
    const int64_t held = mem_.request(id).kv_len;
    if (r.kv_committed_len < held) {
      // The fault: after a SWA eviction the over-allocation's full slots go back but its SWA slots do not
      // (their mapping entries are left stale).
      const bool leak = side_.overallocation_swa_leak && r.swa_evicted_seqlen > 0;
      mem_.shrink(id, std::max<int64_t>(0, r.kv_committed_len), !leak);
    }
    mem_.finish(id);
  }
  r.kv_id = -1;
  r.kv_committed_freed = r.kv_overallocated_freed = true;
  r.prefilled = false;
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

std::vector<kvcache::PoolCounters> SpecScheduler::pools() const {
  const kvcache::SwaAllocator& a = mem_.allocator();
  kvcache::PoolCounters full{"full", a.full().size(), a.full_available_size()};
  kvcache::PoolCounters swa{"swa", a.swa().size(), a.swa_available_size()};
  // Busy check (spec §4.5): requests holding KV, cache_protected_len = 0 (no tree cache).
  for (const Req& r : reqs_) {
    if (!r.prefilled || r.kv_committed_freed || r.req_pool_idx < 0) continue;
    const int64_t alloc = ceil_align(r.kv_allocated_len, case_.page_size);
    full.uncached += alloc;
    swa.uncached += alloc - r.swa_evicted_seqlen;
  }
  return {full, swa};
}

void SpecScheduler::record_high_water() {
  const kvcache::SwaAllocator& a = mem_.allocator();
  stats_.full_high_water = std::max(stats_.full_high_water, a.full().size() - a.full_available_size());
  stats_.swa_high_water = std::max(stats_.swa_high_water, a.swa().size() - a.swa_available_size());
}

void SpecScheduler::write_kv(const Req& r, int64_t pos, std::span<const int64_t> tokens) {
  const auto id = static_cast<int32_t>(r.kv_id);
  const kvcache::ReqState& st = mem_.request(id);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int64_t p = pos + static_cast<int64_t>(i);
    if (p >= st.kv_len) break;  // never past the allocation
    const int64_t f = mem_.req_to_token().at(st.slot, p);
    const uint64_t val = kv_value(tokens[i], p);
    if (f > 0 && f < static_cast<int64_t>(full_kv_.size())) full_kv_[f] = val;
    const int64_t s = p >= st.swa_evicted ? mem_.allocator().translate(f) : 0;
    if (s > 0 && s < static_cast<int64_t>(swa_kv_.size())) swa_kv_[s] = val;
  }
}

void SpecScheduler::evict_swa(const Batch& batch) {
  for (int64_t q : batch.reqs) {
    Req& r = reqs_[q];
    if (r.finished() || r.kv_id < 0) continue;
    const int64_t freed = mem_.evict_swa_before(static_cast<int32_t>(r.kv_id), r.kv_committed_len - 1);
    r.swa_evicted_seqlen = mem_.request(static_cast<int32_t>(r.kv_id)).swa_evicted;
    if (freed > 0) {
      ++stats_.swa_evictions;
      stats_.swa_evicted_tokens += freed;
    }
  }
}

ReadWindow SpecScheduler::read_window() const {
  return ReadWindow{case_.page_size, case_.sliding_window, mem_.allocator().full().num_pages(),
                    mem_.allocator().swa().num_pages()};
}

PageTableInput SpecScheduler::table_input(const Batch& batch, int64_t extra, int64_t q_len,
                                          std::vector<int64_t>& rows) const {
  PageTableInput in;
  in.req_to_token = mem_.req_to_token().table();
  in.max_context = mem_.req_to_token().max_context();
  in.page_size = case_.page_size;
  in.mapping = mem_.allocator().mapping();
  rows.clear();
  for (size_t b = 0; b < batch.reqs.size(); ++b) {
    const Req& r = reqs_[batch.reqs[b]];
    if (r.kv_id < 0 || r.finished() || r.kv_committed_len + extra <= 0) continue;
    const int64_t L = std::min(r.kv_committed_len + extra, mem_.request(static_cast<int32_t>(r.kv_id)).kv_len);
    rows.push_back(static_cast<int64_t>(b));
    in.req_pool_indices.push_back(static_cast<int32_t>(r.req_pool_idx));
    in.cache_seqlens.push_back(static_cast<int32_t>(L));
    in.q_lens.push_back(static_cast<int32_t>(std::min<int64_t>(q_len, L)));
    in.max_seq_len_k = std::max(in.max_seq_len_k, L);
  }
  return in;
}

PageTables SpecScheduler::attention_tables(const PageTableInput& in, AttnCall call, const std::string& where,
                                           std::vector<std::string>& v) {
  if (in.req_pool_indices.empty()) return {};
  TableCheck t = side_.tables(in, read_window(), call);
  stats_.oob_reads += t.oob_reads;
  for (const std::string& b : t.bad)
    v.push_back(fmt::format("{}: {} attention read a bad page-table entry: {}", where, attn_call_name(call), b));
  return std::move(t.tables);
}

std::vector<std::vector<int64_t>> SpecScheduler::draft_read(const Batch& batch, const std::string& where,
                                                            std::vector<std::string>& v) {
  std::vector<std::vector<int64_t>> prefixes(batch.reqs.size());
  std::vector<int64_t> rows;
  const PageTableInput in = table_input(batch, 0, 1, rows);
  if (rows.empty()) return prefixes;
  ++stats_.draft_calls;
  // The pool view: the draft's attention backend sees the target's pools and SWA state (its own, non-SWA
  // pool is never touched); its layers read the target layers of the owner map.
  const PageTables t = attention_tables(in, AttnCall::draft, where, v);
  const int64_t ps = case_.page_size, W = case_.sliding_window;
  const ReadWindow w = read_window();
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t L = in.cache_seqlens[i];
    std::vector<int64_t>& pre = prefixes[static_cast<size_t>(rows[i])];
    pre.assign(static_cast<size_t>(L), -1);
    // Full layers first (keys [0, L)), then sliding layers (keys [max(0, L - W), L)) override the window.
    for (LayerType want : {LayerType::full_attention, LayerType::sliding_attention}) {
      for (size_t l = 0; l < kSpecDraftLayers.size(); ++l) {
        if (kSpecTargetLayers[static_cast<size_t>(draft_owner_[l])] != want) continue;
        const bool swa = want == LayerType::sliding_attention;
        const std::vector<int32_t>& table = swa ? t.swa_page_table : t.page_table;
        const std::vector<uint64_t>& cache = swa ? swa_kv_ : full_kv_;
        const int64_t pages = swa ? w.swa_pages : w.full_pages;
        for (int64_t k = swa ? std::max<int64_t>(0, L - W) : 0; k < L; ++k) {
          const int64_t page = table[static_cast<size_t>(static_cast<int64_t>(i) * t.cols + k / ps)];
          // Checked read: a page outside [1, pages] is never dereferenced (the read walk reported it).
          const bool ok = page >= 1 && page <= pages;
          pre[static_cast<size_t>(k)] = ok ? kv_token(cache[static_cast<size_t>(page * ps + k % ps)], k) : -1;
        }
      }
    }
  }
  return prefixes;
}

void SpecScheduler::prefill(int64_t max_reqs) {
  if (size_of(batches_) >= kSpecMaxBatches || waiting_.empty()) return;
  Batch b;
  b.spec_info = case_.path == SpecPath::plain ? SpecInfoKind::none : SpecInfoKind::draft_input;
  while (!waiting_.empty() && size_of(b.reqs) < max_reqs) {
    Req& r = reqs_[waiting_.front()];
    std::vector<int64_t> fill = r.origin_input_ids;
    fill.insert(fill.end(), r.output_ids.begin(), r.output_ids.end());
    const std::optional<int32_t> id = mem_.add_request();
    if (!id) break;
    if (!mem_.extend(*id, size_of(fill))) {  // prepare_for_extend: both pools, or nothing
      mem_.finish(*id);
      break;
    }
    waiting_.erase(waiting_.begin());
    const int64_t slot = mem_.request(*id).slot;
    r.kv_id = *id;
    r.req_pool_idx = slot;
    r.swa_evicted_seqlen = 0;
    r.is_retracted = false;
    r.prefilled = true;
    r.kv_committed_freed = r.kv_overallocated_freed = false;
    r.kv_committed_len = r.kv_allocated_len = size_of(fill);  // prepare_for_extend
    write_kv(r, 0, fill);                                      // the prefill forward writes every position
    record_high_water();
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
  evict_swa(batch);  // maybe_evict_swa
  if (!prepare_for_decode(batch, where, v)) return v;
  if (case_.path == SpecPath::plain) {
    std::vector<int64_t> rows;
    attention_tables(table_input(batch, 0, 1, rows), AttnCall::target_decode, where, v);
    process_batch_result_decode(batch);
    return v;
  }
  const SpecVerifyInputs in = build_verify_inputs(batch, cmd, where, v);
  last_candidates_ = in.candidates;
  batch.spec_info = SpecInfoKind::verify_input;
  last_verify_ = side_.verify(in);
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
  // All or nothing: a request that does not fit gives back what the earlier ones of the step took.
  std::vector<int64_t> before(bs, 0);
  for (int64_t b = 0; b < bs; ++b) {
    const Req& r = reqs_[batch.reqs[b]];
    if (alloc[b] == 0 || r.kv_id < 0) continue;
    const auto id = static_cast<int32_t>(r.kv_id);
    before[b] = mem_.request(id).kv_len;
    if (!mem_.extend(id, alloc[b])) {
      for (int64_t u = 0; u < b; ++u) {
        const Req& q = reqs_[batch.reqs[u]];
        if (alloc[u] > 0 && q.kv_id >= 0) mem_.shrink(static_cast<int32_t>(q.kv_id), before[u]);
      }
      ++stats_.oom_skips;
      return false;
    }
  }
  (void)need;
  ++stats_.decode_steps;
  record_high_water();
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
    write_kv(r, r.kv_committed_len - 1, std::span(&r.output_ids.back(), 1));  // the forward wrote the input token
    append_token(r, target_.next(prefix));
    batch.seq_lens[b] += 1;
    if (r.finished()) release_kv_cache(r);
  }
}

SpecVerifyInputs SpecScheduler::build_verify_inputs(const Batch& batch, const SpecCommand& cmd,
                                                   const std::string& where, std::vector<std::string>& v) {
  const int64_t bs = size_of(batch.reqs), n = case_.num_draft_tokens;
  // The draft's prepare_for_decode: it borrows the target's pool, so it allocates nothing (the fault: it
  // takes N more slots per request in the borrowed pool, which no request accounts for).
  if (side_.draft_prepare_allocates)
    for (int64_t q : batch.reqs)
      if (!reqs_[q].finished() && reqs_[q].kv_id >= 0) mem_.extend(static_cast<int32_t>(reqs_[q].kv_id), n);
  const std::vector<std::vector<int64_t>> read = draft_read(batch, where, v);
  SpecVerifyInputs in;
  in.path = case_.path;
  in.bs = bs;
  in.num_draft_tokens = n;
  const auto pattern = static_cast<SpecAcceptPattern>(cmd.b);
  for (int64_t b = 0; b < bs; ++b) {
    const Req& r = reqs_[batch.reqs[b]];
    std::vector<int64_t> prefix = r.origin_input_ids;
    prefix.insert(prefix.end(), r.output_ids.begin(), r.output_ids.end());
    // The draft's context: the prefix its attention read from the KV (positions [0, kv_committed_len)),
    // then the root (the last output token, whose KV is not written yet). A request the draft did not
    // read (finished / retracted: it settles nothing) drafts from the true prefix.
    std::vector<int64_t> context = read[static_cast<size_t>(b)];
    if (context.empty()) context = prefix;
    else context.push_back(r.output_ids.back());
    // A pure function of the command, the request and what the draft read (not of the step index), so
    // deleting earlier commands while shrinking leaves later decode steps' acceptance unchanged.
    const int64_t k = toy_accept_count(pattern, cmd.c, r.rid, b, bs, n);
    const std::vector<int64_t> drafts =
        toy_drafts(target_, context, n, k, spec_mix(static_cast<uint64_t>(cmd.c) * 131 + r.rid));
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
  // The target verify forward: attention over [0, kv_committed_len + N) with N queries, then the KV of
  // the root and the drafts written at [kv_committed_len, kv_committed_len + N).
  std::vector<int64_t> rows;
  attention_tables(table_input(batch, n, n, rows), AttnCall::target_verify, where, v);
  for (int64_t b : rows) {
    const Req& r = reqs_[batch.reqs[static_cast<size_t>(b)]];
    write_kv(r, r.kv_committed_len, std::span(in.candidates).subspan(static_cast<size_t>(b * n), static_cast<size_t>(n)));
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
  // v1's evict_mask: the rejected verify slots leave the request's allocation tail.
  if (res.freed_slots[b] != 0 && r.kv_id >= 0) {
    const auto id = static_cast<int32_t>(r.kv_id);
    const int64_t held = mem_.request(id).kv_len;
    mem_.shrink(id, std::clamp<int64_t>(r.kv_allocated_len - res.freed_slots[b], 0, held));
  }
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
      if (r.kv_id >= 0) mem_.finish(static_cast<int32_t>(r.kv_id));
      r.kv_id = -1;
      r.kv_committed_len = r.kv_allocated_len = 0;
      r.swa_evicted_seqlen = 0;
      r.prefilled = false;
      r.is_retracted = true;
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
  for (const kvcache::PoolCounters& pc : pools())
    if (!pc.holds()) v.push_back(fmt::format("{}: pool memory leak detected! {}", where, pc.describe()));
  int64_t holding = 0;
  for (const Req& r : reqs_) holding += r.prefilled;
  const int64_t free_slots = mem_.req_to_token().free_slots();
  if (slots_held != holding || free_slots + holding != mem_.req_to_token().slots())
    v.push_back(fmt::format("{}: req_to_token_pool memory leak detected! {} free slots + {} requests holding KV != "
                            "{} slots ({} request slot ids held)",
                            where, free_slots, holding, mem_.req_to_token().slots(), slots_held));
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
  o.pool_available = mem_.allocator().full_available_size();
  o.swa_pool_available = mem_.allocator().swa_available_size();
  return o;
}

}  // namespace lockstep::reference::spec
