#pragma once
/// Generator of `pool_sizing` cases: KV budgets up to 2^40 bytes, 0–12 full + 1–60 SWA layers, per-token
/// bytes 512..16384, page sizes 1/16/32/64, dense and MoE configs, default or explicit ratios, no sliding window or one of
/// 512/1024/4096 keys or at the SWA pool's limit (W + page = swa - 1..4), never an infeasible one.
#include <rapidcheck.h>

#include "core/kvcache/pool_sizing.h"

namespace lockstep::fuzz {

rc::Gen<PoolSizingCase> gen_pool_sizing_case();

}  // namespace lockstep::fuzz
