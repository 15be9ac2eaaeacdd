#pragma once
/// Case and output types of `kv_trace`: a command sequence replayed through the KV memory model
/// (reference/kvcache/pool.h) with the page tables of every step built by the reference and the device
/// kernel (spec: shared/spec/gemma4-kvcache-speculative.md §4).
///
///   commands  i32 (N, 3)  rows (kind, target, amount):
///     kind 0 add request | 1 extend (prefill chunk of `amount` tokens) | 2 decode | 3 finish |
///     4 evict SWA | 5 unset tail (write -1, unallocated, into the row's `amount` entries past kv_len:
///     page-table construction then translates -1 tokens, full `-1 // page` and SWA through the mapping's
///     -1 entry); `target` picks the live request live_ids[target % live]; a command that cannot
///     apply (no live request, pools or slots exhausted, max_context reached) changes nothing.
/// After every command the batch = every live request with KV (in id order) gets its page tables
/// built: cache_seqlens = kv_len, q_lens = the last forward's query length, max_seq_len_k = max; then
/// attention runs over the batch through each table (full layers: no window; SWA layers: the window).
#include <cstdint>
#include <string>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

enum class KvCommand : int { add = 0, extend = 1, decode = 2, finish = 3, evict_swa = 4, unset_tail = 5 };
template <>
struct EnumNames<KvCommand> {
  static constexpr std::array<const char*, 6> names{"add", "extend", "decode", "finish", "evict_swa", "unset_tail"};
};

struct KvTraceCase {
  int64_t page_size = 1;
  int64_t full_size = 0;    ///< full pool tokens per layer
  int64_t swa_size = 0;     ///< SWA pool tokens per layer
  int64_t window = 1;       ///< sliding window in keys
  int64_t req_slots = 4;
  int64_t max_context = 64;
  Tensor commands;          ///< i32 (N, 3)

  template <class V>
  void fields(V& v) {
    v("page_size", page_size, IntRange{1, 4096});
    v("full_size", full_size, IntRange{0, int64_t{1} << 24});
    v("swa_size", swa_size, IntRange{0, int64_t{1} << 24});
    v("window", window, IntRange{1, kFieldInt32Max});
    v("req_slots", req_slots, IntRange{1, 4096});
    v("max_context", max_context, IntRange{1, int64_t{1} << 20});
    v("commands", commands);
  }
  int64_t num_commands() const { return commands.rank() == 2 ? commands.dim(0) : 0; }
};

struct KvTraceOutputs {
  Tensor page_tables;      ///< i32: every step's page_table, flattened and concatenated
  Tensor swa_page_tables;  ///< i32: every step's swa_page_table, same layout
  Tensor counters;         ///< i64 (N, 2, 6): per step, pools (full, swa) x (total, available,
                           ///< evictable, protected, session_held, uncached)
  Tensor attention;        ///< f32: per step with a batch, ragged paged attention read through the
                           ///< full table then through the SWA table (reference/kvcache/paged_attention.h),
                           ///< each (T, 2, 8) flattened and concatenated
  /// One line per problem the side found ("step 3: pool memory leak detected! ..."; the reference also lists
  /// the bad entries its validator finds and the attention reads of bad pages); every line fails.
  std::string invariant_failures;
  /// i32 (n, 5): bad entries the device read walk met (slot = flat index into the concatenated
  /// page_tables ++ swa_page_tables of all steps, bound = the pool's pages); the reference has none.
  Tensor oob_reads;
  int64_t oob_dropped = 0;     ///< read-walk records lost to the log's capacity
  Tensor attention_oob_reads;  ///< i32 (n, 5): out-of-range pages the attention kernel met (seq = step)
  int64_t max_kv_len = 0;      ///< longest sequence attended (the attention tolerance's reduction length)

  template <class V>
  void fields(V& v) {
    v("page_tables", page_tables);
    v("swa_page_tables", swa_page_tables);
    v("counters", counters);
    v("attention", attention, Rule{Rule::tolerance});
    v("invariant_failures", invariant_failures, Rule{Rule::must_be_empty, "device side: ", "reference model: "});
    v("oob_reads", oob_reads,
      Rule{Rule::oob_reads, "device read {n} bad page-table {entries} (out of range or unallocated/evicted), first: "
                            "table slot {slot} = {page} (valid 1..{bound})"});
    v("oob_dropped", oob_dropped, IntRange{0, INT64_MAX}, Rule{Rule::oob_dropped});
    v("attention_oob_reads", attention_oob_reads,
      Rule{Rule::oob_reads, "attention kernel read {n} out-of-range page(s) through the device tables, first: step "
                            "{seq} page_indices[{slot}] = {page} (cache has {bound} pages)", nullptr, false});
    v("max_kv_len", max_kv_len, IntRange{0, INT64_MAX}, Rule{Rule::info});
  }
};

/// Throws Error naming the field (e.g. `case.commands[3][0] = 9: unknown command kind`).
void validate(const KvTraceCase& c);

}  // namespace lockstep
