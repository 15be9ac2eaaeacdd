#pragma once
/// Generators of the kvcache family.
///
/// kv_trace: page sizes 1/2/4/8/16, full pools of 2–48 pages with SWA pools of 1..full pages (SWA
/// exhaustion while the full pool has room), windows of 1–3, 4–33 or 64 keys, 1–6 request slots,
/// max_context 8–128, and command sequences (scaling with size, shrinking by removing commands) of
/// adds, prefill chunks of 1..2*page+2 or up to 48 tokens, decodes, finishes and SWA evictions, with
/// unset-tail commands inserted (-1 entries past kv_len: both tables floor-divide -1 tokens, the SWA one
/// after translating them through the mapping's -1 entry).
/// pool_sizing: KV budgets up to 2^40 bytes, 0–12 full + 1–60 SWA layers, per-token bytes 512..16384,
/// page sizes 1/16/32/64, dense and MoE configs, default or explicit ratios, no sliding window or one of
/// 512/1024/4096 keys or at the SWA pool's limit (W + page = swa - 1..4), never an infeasible one.
#include <rapidcheck.h>

#include "core/kvcache/kv_trace.h"
#include "core/kvcache/pool_sizing.h"

namespace lockstep::fuzz {

rc::Gen<KvTraceCase> gen_kv_trace_case();
rc::Gen<PoolSizingCase> gen_pool_sizing_case();

}  // namespace lockstep::fuzz
