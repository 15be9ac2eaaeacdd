#pragma once
/// Reference hybrid SWA pool sizing: sglang's current configurator (S9 `HybridSWAPoolConfigurator`,
/// spec §3.3; spec README decision 10), in the float arithmetic upstream uses:
///   r    = ratio > 0 ? ratio : default_swa_full_tokens_ratio(num_experts)
///   cell = F * n_full + r * S * n_swa            (all-SWA model, n_full == 0: cell = S * n_swa)
///   max_tokens = int(available_bytes // cell)    (Python float floor division)
///   full = align(max_tokens); swa = align(int(full * r)); align(x) = x // page * page
///   (all-SWA: swa = align(max_tokens), full = 0)
///   sliding_window > 0 and sliding_window + page >= swa -> Error ("SWA pool cannot hold one request")
/// The formula is core's pool_sizes_unvalidated (core/kvcache/pool_sizing.h) and the feasibility error
/// is part of the case's validate(): whether a case is valid is decided once, for both sides.
/// Decision (seed 004 follow-up fix): the default ratio is 0.15 for MoE models (num_experts > 0) and
/// 0.8 (sglang's default) for dense models; an explicit ratio always wins.
#include <cstdint>

#include "core/kvcache/floordiv.h"
#include "core/kvcache/pool_sizing.h"

namespace lockstep::reference::kvcache {

using lockstep::default_swa_full_tokens_ratio;
using lockstep::PoolSizes;

/// validate(c) (throws Error naming the field), then the sizes.
PoolSizes pool_sizing(const PoolSizingCase& c);

}  // namespace lockstep::reference::kvcache
