#include "reference/kvcache/pool_sizing.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::reference::kvcache {

double default_swa_full_tokens_ratio(int64_t num_experts) { return num_experts > 0 ? 0.15 : 0.8; }

PoolSizes pool_sizing(const PoolSizingCase& c) {
  validate(c);
  const double r = c.ratio > 0 ? c.ratio : default_swa_full_tokens_ratio(c.num_experts);
  const double F = static_cast<double>(c.full_bytes_per_token), S = static_cast<double>(c.swa_bytes_per_token);
  const int64_t ps = c.page_size;
  PoolSizes out;
  if (c.num_full_layers == 0) {
    const double cell = S * static_cast<double>(c.num_swa_layers);
    const auto max_tokens = static_cast<int64_t>(python_floordiv(static_cast<double>(c.available_bytes), cell));
    out.swa_tokens = max_tokens / ps * ps;
  } else {
    const double cell = F * static_cast<double>(c.num_full_layers) + r * S * static_cast<double>(c.num_swa_layers);
    const auto max_tokens = static_cast<int64_t>(python_floordiv(static_cast<double>(c.available_bytes), cell));
    out.full_tokens = max_tokens / ps * ps;
    out.swa_tokens = static_cast<int64_t>(static_cast<double>(out.full_tokens) * r) / ps * ps;
  }
  if (c.sliding_window > 0 && c.sliding_window + ps >= out.swa_tokens) {
    throw Error("case.available_bytes", fmt::format("{}", c.available_bytes),
                fmt::format("SWA pool ({} tokens) cannot hold even one request: sliding_window {} + page_size {}",
                            out.swa_tokens, c.sliding_window, ps));
  }
  return out;
}

}  // namespace lockstep::reference::kvcache
