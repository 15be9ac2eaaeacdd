#pragma once
/// Reference pool sizing: validate(), then the formula (core/kvcache/pool_sizing.h) with the spec's
/// default ratio (decision 10: 0.15 for MoE models only; an explicit ratio always wins).
#include "core/kvcache/pool_sizing.h"

namespace lockstep::reference::kvcache {

inline PoolSizingOutputs pool_sizing(const PoolSizingCase& c) {
  validate(c);
  return pool_sizes(c, default_swa_full_tokens_ratio(c.num_experts));
}

}  // namespace lockstep::reference::kvcache
