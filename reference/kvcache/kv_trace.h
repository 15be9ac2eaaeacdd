#pragma once
/// Reference replay of a `kv_trace` case (core/kvcache/kv_trace.h): every command applied to the KV
/// memory model, then the leak invariant checked, the page tables of the batch built and validated.
#include <functional>
#include <string>
#include <vector>

#include "core/attention/ragged_paged_attention.h"
#include "core/kvcache/kv_trace.h"
#include "reference/kvcache/page_table.h"
#include "reference/kvcache/pool.h"

namespace lockstep::reference::kvcache {

KvConfig kv_config(const KvTraceCase& c);
/// Applies command `i` of the case to `m`.
void apply_command(const KvTraceCase& c, int64_t i, KvMemory& m);
/// The batch of every live request with KV: page-table inputs and the read window of its pools.
PageTableInput batch_input(const KvMemory& m);
ReadWindow read_window(const KvMemory& m);
/// The two attention cases of a step (full table, SWA table); empty when the batch is empty.
std::vector<RpaCase> step_attention_cases(const PageTableInput& in, const PageTables& t, const ReadWindow& w, int64_t step);
/// Appends one step's counters (2 pools x 6 terms) to `out`.
void append_counters(const std::vector<PoolCounters>& pools, std::vector<int64_t>& out);

/// Replays the commands through a KvMemory built with `options`, calling `step(i, m)` after each.
void replay_trace(const KvTraceCase& c, const PoolOptions& options,
                  const std::function<void(int64_t, const KvMemory&)>& step);

/// The replay's outputs; invariant_failures lists every problem ("step 3: pool memory leak detected! ...",
/// bad table entries the validator finds, attention reads of bad pages).
KvTraceOutputs kv_trace(const KvTraceCase& c);

}  // namespace lockstep::reference::kvcache
