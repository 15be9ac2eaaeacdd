#pragma once
/// Device pool sizing: the engine's startup configurator, written the way the engine computes it (one host
/// computation on every backend; no kernel launch), independent of the reference's formula
/// (core/kvcache/pool_sizing.h): float math as upstream (CPython `//`, int() truncation, page alignment),
/// and the default ratio chosen the way the engine chooses it (where seed 004's bug was).
#include "core/kvcache/floordiv.h"
#include "core/kvcache/pool_sizing.h"
#include "device/core/fault.h"
#include "device/core/options.h"

namespace lockstep::device {

enum PoolSizingFault : int { kPoolSizingFaultMoeRatioForDenseModel = 1 };
inline constexpr Fault kPoolSizingFaults[] = {{"moe_ratio_for_dense_model", kPoolSizingFaultMoeRatioForDenseModel,
                                               "seed 004 Patch 2: swa_full_tokens_ratio 0.15 applied to dense Gemma-4 models too"}};

inline PoolSizingOutputs pool_sizing(const PoolSizingCase& c, const Options& options = {}) {
  validate(c);
  double r = c.ratio;
  if (r <= 0) r = (c.num_experts > 0 || options.fault == kPoolSizingFaultMoeRatioForDenseModel) ? 0.15 : 0.8;
  const auto F = static_cast<double>(c.full_bytes_per_token), S = static_cast<double>(c.swa_bytes_per_token);
  const auto n_full = static_cast<double>(c.num_full_layers), n_swa = static_cast<double>(c.num_swa_layers);
  const auto avail = static_cast<double>(c.available_bytes);
  const int64_t page = c.page_size;
  if (c.num_full_layers == 0) {  // all-SWA model: every byte goes to the SWA pool
    const auto tokens = static_cast<int64_t>(python_floordiv(avail, S * n_swa));
    return {Tensor::from<int64_t>({2}, {0, tokens / page * page})};
  }
  const auto tokens = static_cast<int64_t>(python_floordiv(avail, F * n_full + r * S * n_swa));  // upstream's association
  const int64_t full = tokens / page * page;
  return {Tensor::from<int64_t>({2}, {full, static_cast<int64_t>(static_cast<double>(full) * r) / page * page})};
}

}  // namespace lockstep::device
