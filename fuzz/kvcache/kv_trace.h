#pragma once
/// Generator of `kv_trace` cases: page sizes 1/2/4/8/16, full pools of 2–48 pages with SWA pools of
/// 1..full pages (SWA exhaustion while the full pool has room), windows of 1–3, 4–33 or 64 keys, 1–6
/// request slots, max_context 8–128, and command sequences (scaling with size, shrinking by removing commands) of
/// adds, prefill chunks of 1..2*page+2 or up to 48 tokens, decodes, finishes and SWA evictions, with
/// unset-tail commands inserted (-1 entries past kv_len: both tables floor-divide -1 tokens, the SWA one
/// after translating them through the mapping's -1 entry).
#include <rapidcheck.h>

#include "core/kvcache/kv_trace.h"

namespace lockstep::fuzz {

rc::Gen<KvTraceCase> gen_kv_trace_case();

}  // namespace lockstep::fuzz
