#pragma once
/// Device pool sizing: the engine's startup configurator (one host computation on both backends), with the
/// default ratio chosen the way the engine chooses it (where seed 004's bug was).
#include "core/kvcache/pool_sizing.h"
#include "device/core/fault.h"
#include "device/core/options.h"

namespace lockstep::device {

enum PoolSizingFault : int { kPoolSizingFaultMoeRatioForDenseModel = 1 };
inline constexpr Fault kPoolSizingFaults[] = {{"moe_ratio_for_dense_model", kPoolSizingFaultMoeRatioForDenseModel,
                                               "seed 004 Patch 2: swa_full_tokens_ratio 0.15 applied to dense Gemma-4 models too"}};

inline PoolSizingOutputs pool_sizing(const PoolSizingCase& c, const Options& options = {}) {
  validate(c);
  return pool_sizes(c, c.num_experts > 0 || options.fault == kPoolSizingFaultMoeRatioForDenseModel ? 0.15 : 0.8);
}

}  // namespace lockstep::device
