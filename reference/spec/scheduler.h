#pragma once
/// The speculative-decoding scheduler model (spec §5; seed 004): requests, batches, prefill,
/// non-speculative decode, topk = 1 chain speculative decode with the v1 or v2 result path, merge /
/// filter, abort, retract — joined with the hybrid KV memory model (reference/kvcache/pool.h: full + SWA
/// pools, req_to_token, the full->SWA mapping, page size >= 1) and a FROZEN_KV_MTP draft that borrows
/// the target's pool through a view (issue 15).
///
/// Decisions (pinned by tests/spec/spec_decode_test.cpp):
/// * One decode command = one scheduler step of one batch: SWA eviction (`maybe_evict_swa`, every step,
///   pre_len = kv_committed_len - 1, spec §4.3 version A), allocation (`prepare_for_decode`), the draft
///   (its prepare_for_decode allocates nothing: it borrows the target's pool), the draft attention through
///   the pool view, the target verify forward (toy model; its attention tables built and read-checked;
///   it writes the KV of the root + drafts), the verify + bookkeeping (the injected SpecVerifyFn: the
///   reference verify, or the device kernels), then result application and KV release of finished requests.
/// * v1 filters finished requests out of the batch before the step (upstream
///   `update_running_batch`). v2 does not (overlap: requests that finished in the previous step's
///   results are still in the launched batch and settle nothing — kSpecSkip; they hold no KV and are
///   left out of the attention calls).
/// * Allocation (KvMemory::extend, both pools, page-rounded): prefill takes len(origin) + len(output)
///   tokens. Plain decode: +1 per request. v1: +N verify slots per request, the rejected ones freed after
///   verify (KvMemory::shrink to kv_allocated_len - freed_slots; kv_allocated_len = kv_committed_len).
///   v2: x = kv_committed_len + 2A - kv_allocated_len with A = N (topk = 1), kv_allocated_len += x,
///   kv_committed_len untouched until results resolve. A step whose allocation does not fit (either pool,
///   or req_to_token's kSpecMaxContext columns) is skipped whole (stats.oom_skips), its partial
///   allocations given back.
/// * Release on finish (`release_kv_cache`): the over-allocation [kv_committed_len, kv_allocated_len) and
///   the committed part go back to both pools (no tree cache in this model); kv_committed_freed and
///   kv_overallocated_freed become true together.
/// * Leak invariant (spec §4.5, busy check) after every command, per pool, every term named:
///   available (the allocator) + evictable (0) + protected (0) + session_held (0) + uncached == total, with
///   uncached summed over the scheduler's live requests — full: ceil_align(kv_allocated_len, page), SWA:
///   ceil_align(kv_allocated_len, page) - swa_evicted_seqlen — so a pool change the scheduler does not
///   account for (a second allocation, a slot not released) shows. Plus req_to_token's free slots.
/// * KV content: every slot the target writes holds kv_value(token, position) (both pools, through the
///   mapping for SWA). The draft reconstructs the prefix from what its attention reads: its full layer
///   reads keys [0, L) through page_table, its sliding layer keys [max(0, L - W), L) through swa_page_table
///   (L = kv_committed_len, one query; the sliding read overrides the full one inside the window). Its
///   drafts are toy_drafts of that reconstruction, so reading wrong pages changes the drafts and the
///   acceptance while greedy equivalence holds (verify rejects them).
/// * Page tables for every attention call (plain decode: L = kv_committed_len, q = 1; draft: as above;
///   target verify: L = kv_committed_len + N, q = N) are built by the injected SpecTableFn (reference
///   construction + validator, or the device kernel + its checked read walk) and every bad entry read is
///   a violation.
/// * Retract frees all of the request's KV and puts it back in the waiting queue (is_retracted);
///   a later prefill re-prefills origin + output_ids. Abort sets to_finish: a waiting request
///   finishes at once, a running one at its next finish check.
/// * A batch left without requests (filter, retract, v1's pre-step filter) is dropped.
/// * `merge`/`filter` require spec_info to be a draft input (or idle / none): upstream's
///   EagleVerifyInput has neither method (AttributeError). Here that is a reported violation and
///   the batch operation is skipped — the simulator never crashes on it.
/// * Old behaviour (the private token-count pool this replaced) = page_size 1, swa_pool_size = pool_size
///   and a sliding window longer than any sequence (the SpecDecodeCase defaults).
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/spec/spec_decode.h"
#include "core/kvcache/page_table.h"
#include "reference/kvcache/pool.h"
#include "reference/spec/toy_model.h"

namespace lockstep::reference::spec {

enum class SpecInfoKind : int { none = 0, draft_input = 1, verify_input = 2, draft_extend_input = 3, idle = 4 };
}  // namespace lockstep::reference::spec

template <>
struct lockstep::EnumNames<lockstep::reference::spec::SpecInfoKind> {
  static constexpr std::array<const char*, 5> names{"none", "draft_input", "verify_input", "draft_extend_input",
                                                    "idle"};
};

namespace lockstep::reference::spec {

/// Req, Batch (and SpecVerifyResult, core/spec/spec_decode.h) list their fields once, in
/// declaration order; the lockstep diff (oracle/spec/spec_decode.cpp) derives from that list.

struct Req {
  int64_t rid = 0;
  std::vector<int64_t> origin_input_ids;
  std::vector<int64_t> output_ids;  ///< append-only (raw in v2: may run past the stop token)
  int64_t max_new_tokens = 1;
  int64_t stop_token_id = -1;
  int64_t eos_token_id = -1;
  int64_t kv_committed_len = 0;
  int64_t kv_allocated_len = 0;
  int64_t spec_verify_ct = 0;
  int64_t spec_num_correct_drafts = 0;
  SpecFinishReason finished_reason = SpecFinishReason::none;
  int64_t finished_len = -1;
  bool to_finish_abort = false;
  bool is_retracted = false;
  bool prefilled = false;  ///< holds KV (prefilled and neither retracted nor released)
  bool kv_committed_freed = false;
  bool kv_overallocated_freed = false;
  int64_t req_pool_idx = -1;
  int64_t last_step_start = 0;  ///< len(output_ids) before the latest step that appended
  int64_t swa_evicted_seqlen = 0;  ///< SWA slots of positions [0, swa_evicted_seqlen) freed (spec §4.3)
  int64_t kv_id = -1;           ///< KvMemory request id while holding KV

  template <class V>
  void fields(V& v) {
    v("rid", rid);
    v("origin_input_ids", origin_input_ids);
    v("output_ids", output_ids);
    v("max_new_tokens", max_new_tokens);
    v("stop_token_id", stop_token_id);
    v("eos_token_id", eos_token_id);
    v("kv_committed_len", kv_committed_len);
    v("kv_allocated_len", kv_allocated_len);
    v("spec_verify_ct", spec_verify_ct);
    v("spec_num_correct_drafts", spec_num_correct_drafts);
    v("finished_reason", finished_reason);
    v("finished_len", finished_len);
    v("to_finish_abort", to_finish_abort);
    v("is_retracted", is_retracted);
    v("prefilled", prefilled);
    v("kv_committed_freed", kv_committed_freed);
    v("kv_overallocated_freed", kv_overallocated_freed);
    v("req_pool_idx", req_pool_idx);
    v("last_step_start", last_step_start);
    v("swa_evicted_seqlen", swa_evicted_seqlen);
    v("kv_id", kv_id);
  }

  bool finished() const { return finished_reason != SpecFinishReason::none; }
  /// output_ids[:finished_len] when set, else output_ids.
  std::vector<int64_t> visible_output() const;
};

struct Batch {
  std::vector<int64_t> reqs;  ///< indices into SpecScheduler::reqs()
  std::vector<int64_t> seq_lens;
  std::vector<int64_t> req_pool_indices;
  SpecInfoKind spec_info = SpecInfoKind::none;

  template <class V>
  void fields(V& v) {
    v("reqs", reqs);
    v("seq_lens", seq_lens);
    v("req_pool_indices", req_pool_indices);
    v("spec_info", spec_info);
  }
};

using SpecVerifyFn = std::function<SpecVerifyResult(const SpecVerifyInputs&)>;

/// Which attention call a page table is built for.
enum class AttnCall : int { target_decode = 0, draft = 1, target_verify = 2 };
const char* attn_call_name(AttnCall c);

/// Page tables of one attention call and what the read check found in them.
struct TableCheck {
  PageTables tables;
  std::vector<std::string> bad;  ///< one line per bad entry read (or summary), "" none
  int64_t oob_reads = 0;         ///< bad entries read
};
using SpecTableFn = std::function<TableCheck(const PageTableInput&, const ReadWindow&, AttnCall)>;

/// The reference side's tables: reference/kvcache/page_table.h construction + validator.
TableCheck reference_tables(const PageTableInput& in, const ReadWindow& w, AttnCall call);

/// One side of the lockstep: its verify, its page-table builder, and (device side, test-only faults) the
/// scheduler-level bugs of seed 004 it models.
struct SpecSide {
  SpecVerifyFn verify;
  SpecTableFn tables = reference_tables;
  bool draft_prepare_allocates = false;   ///< draft_prepare_double_allocates: the draft allocates N per request
  bool overallocation_swa_leak = false;   ///< v2_overallocation_not_released_on_swa_evict
};

/// The value the target writes into a KV slot for `token` at `position`, and its inverse (what the draft
/// decodes from a value it read; a wrong value decodes to a token outside the vocabulary).
uint64_t kv_value(int64_t token, int64_t position);
int64_t kv_token(uint64_t value, int64_t position);

struct SpecStats {
  int64_t verifies = 0;          ///< (request, step) pairs verified
  int64_t accepted_drafts = 0;   ///< sum of c over verifies
  int64_t zero_accept_verifies = 0;
  int64_t zero_accept_steps = 0; ///< decode steps in which every request accepted no draft
  int64_t decode_steps = 0;
  int64_t oom_skips = 0;
  int64_t length_over_stop = 0;  ///< v2 finishes where LENGTH masked an earlier stop token (spec §5.4 edge)
  int64_t swa_evictions = 0;     ///< eviction events that freed SWA slots
  int64_t swa_evicted_tokens = 0;
  int64_t oob_reads = 0;         ///< bad page-table entries read (any attention call)
  int64_t draft_calls = 0;       ///< draft attention calls (batches)
  int64_t full_high_water = 0;   ///< max tokens in use (total - available), full pool
  int64_t swa_high_water = 0;    ///< same, SWA pool
};

class SpecScheduler {
 public:
  /// `side.verify` runs greedy verify + bookkeeping for the speculative paths (unused for plain).
  SpecScheduler(const SpecDecodeCase& c, SpecSide side);
  /// Reference tables, no fault.
  SpecScheduler(const SpecDecodeCase& c, SpecVerifyFn verify);

  /// Applies command `step` of the case; returns the violations found while applying it.
  std::vector<std::string> apply(const SpecCommand& cmd, int64_t step);
  /// Invariants between steps (spec §5.5) plus greedy equivalence; each line names step, request, field.
  std::vector<std::string> check_invariants(int64_t step, const std::string& cmd) const;

  const std::vector<Req>& reqs() const { return reqs_; }
  const std::vector<Batch>& batches() const { return batches_; }
  const std::vector<int64_t>& waiting() const { return waiting_; }
  /// Leak-invariant terms per pool (full, swa), uncached from the scheduler's requests (spec §4.5).
  std::vector<kvcache::PoolCounters> pools() const;
  kvcache::PoolCounters pool_counters() const { return pools()[0]; }
  const kvcache::KvMemory& memory() const { return mem_; }
  /// Draft tokens (candidates) of the latest speculative step.
  const std::vector<int64_t>& last_candidates() const { return last_candidates_; }
  /// Owner map of the draft's layers onto target layers (§2.5 source-layer rule, by type).
  const std::vector<int64_t>& draft_owner() const { return draft_owner_; }
  /// Verify result of the latest decode step (empty bs when the latest command was not a decode).
  const SpecVerifyResult& last_verify() const { return last_verify_; }
  int64_t last_bs() const { return last_bs_; }
  const SpecStats& stats() const { return stats_; }
  const SpecDecodeCase& params() const { return case_; }
  SpecDecodeOutputs outputs() const;
  /// The unstopped greedy stream of request `r` (at least `n` tokens).
  std::vector<int64_t> greedy_stream(int64_t r, int64_t n) const;

 private:
  /// Counters of a request before a step's results are applied (for the per-step deltas).
  struct ReqCounters {
    int64_t output_len = 0, spec_verify_ct = 0, spec_num_correct_drafts = 0;
  };
  /// Sums over one step's requests (spec §5.5's batch sum, zero-accept steps).
  struct StepTally {
    int64_t sum_correct = 0, sum_accept = 0, settled = 0, verified = 0;
    bool all_zero = true;
  };

  void prefill(int64_t max_reqs);
  /// One decode step of `batch` (`decode` command): v1/plain first drop finished requests
  /// (update_running_batch → filter_batch); prepare_for_decode allocates; plain decode appends one
  /// target token per request (process_batch_result_decode); the speculative paths build the verify
  /// inputs (draft + target forward), run the injected verify and apply its result
  /// (process_verify_result). Returns the violations found.
  std::vector<std::string> decode(Batch& batch, const SpecCommand& cmd, int64_t step);
  /// `ScheduleBatch.filter_batch` keeping the unfinished requests (spec §5.6); the `filter` command and
  /// v1's pre-step `update_running_batch`.
  void filter_batch(Batch& batch);
  /// `ScheduleBatch.prepare_for_decode` (spec §5.3 allocation, §5.5): all or nothing for the step —
  /// plain +1 (and kv_committed_len += 1 before the forward), v1 +N verify slots, v2
  /// x = kv_committed_len + 2A - kv_allocated_len with A = N. Finished requests (v2) take nothing.
  /// Returns false (counted in stats.oom_skips) when the pool cannot hold it; checks v2's
  /// kv_allocated_len == kv_committed_len + 2A afterwards.
  bool prepare_for_decode(Batch& batch, const std::string& where, std::vector<std::string>& v);
  /// Non-speculative `process_batch_result_decode`: one greedy target token per request, appended
  /// with update_finish_state(1); a finished request releases its KV.
  void process_batch_result_decode(Batch& batch);
  /// The verify inputs of a speculative step (spec §5.1 shapes): per request the root (last output
  /// token) and the toy draft's N - 1 drafts as candidates, the target's argmax at each candidate
  /// position, the finish-check parameters and the kSpecSkip / kSpecAbort flags.
  SpecVerifyInputs build_verify_inputs(const Batch& batch, const SpecCommand& cmd, const std::string& where,
                                       std::vector<std::string>& v);
  /// Page-table batch of the requests of `batch` that hold KV: L = kv_committed_len + extra, q = q_len.
  PageTableInput table_input(const Batch& batch, int64_t extra, int64_t q_len, std::vector<int64_t>& rows) const;
  ReadWindow read_window() const;
  /// Builds and read-checks the tables of one attention call (the side's SpecTableFn); violations to `v`.
  PageTables attention_tables(const PageTableInput& in, AttnCall call, const std::string& where,
                              std::vector<std::string>& v);
  /// The draft's attention through the pool view: for each request of `batch` with KV, the prefix
  /// (positions [0, kv_committed_len)) reconstructed from the values read (kSpecDraftLayers through the
  /// owner map), by batch slot (empty = request not read).
  std::vector<std::vector<int64_t>> draft_read(const Batch& batch, const std::string& where,
                                               std::vector<std::string>& v);
  /// The target forward writes the KV of `tokens` at positions [pos, pos + len) of request r.
  void write_kv(const Req& r, int64_t pos, std::span<const int64_t> tokens);
  /// `maybe_evict_swa` of the unfinished requests of the batch (pre_len = kv_committed_len - 1).
  void evict_swa(const Batch& batch);
  void record_high_water();
  /// Applies the verify result to the batch (spec §5.2 v1 `EagleVerifyInput.verify` / §5.3 v2
  /// `_resolve_spec_v2_tokens` + `process_batch_result_decode`): per request the effects
  /// (apply_request_result), seq_lens += accept_length + 1 (v1) / accept_lens (v2), the per-step
  /// invariants (check_request_step), the stats, release_kv_cache of newly finished requests; then
  /// spec §5.5's batch sum and the spec_info the step leaves (draft input, idle, or the verify input
  /// when the result says so — a bug, spec §5.6).
  void process_verify_result(Batch& batch, const SpecVerifyInputs& in, const SpecVerifyResult& res,
                             const std::string& where, std::vector<std::string>& v);
  /// Request b's effects of the result: append num_tokens[b] tokens to output_ids, kv_committed_len /
  /// spec_verify_ct / spec_num_correct_drafts deltas, free the over-allocated verify slots (v1
  /// evict_mask), kv_allocated_len = kv_committed_len (v1), and the finish state update_finish_state
  /// computed (spec §5.4) unless already finished. Returns whether the request finished in this step.
  bool apply_request_result(Req& r, const SpecVerifyResult& res, int64_t b);
  /// Spec §5.5 per-step invariants of one request (ΔO, Δspec_verify_ct, Δspec_num_correct_drafts,
  /// accept_length range; a skipped v2 request settles nothing), adding to the step's sums.
  void check_request_step(const Req& r, const ReqCounters& before, int64_t accept_length, bool skip,
                          const std::string& at, StepTally& tally, std::vector<std::string>& v) const;
  /// Stats of one verified (request, step): verifies, accepted drafts, zero-accept count, accept_trace.
  void record_verify(int64_t drafts_accepted, StepTally& tally);
  /// v2 LENGTH finish that masked a stop token inside the step's tokens (spec §5.4 edge): stats.
  void count_length_over_stop(const Req& r);
  /// `release_kv_cache`: the committed part, then the over-allocation [committed, allocated).
  void release_kv_cache(Req& r);
  /// One target token (prefill, plain decode): append, then update_finish_state(1).
  void append_token(Req& r, int64_t tok);
  void remove_from_batch(Batch& b, size_t slot);
  int64_t uncached() const;

  SpecDecodeCase case_;
  SpecSide side_;
  ToyTarget target_;
  kvcache::KvMemory mem_;
  std::vector<uint64_t> full_kv_, swa_kv_;  ///< KV content by pool slot (page * page_size + offset)
  std::vector<int64_t> draft_owner_;
  std::vector<Req> reqs_;
  std::vector<int64_t> waiting_;
  std::vector<Batch> batches_;
  std::vector<int64_t> last_candidates_;
  SpecVerifyResult last_verify_;
  int64_t last_bs_ = 0;
  std::vector<int64_t> accept_trace_;
  SpecStats stats_;
};

const char* spec_info_name(SpecInfoKind k);

}  // namespace lockstep::reference::spec
