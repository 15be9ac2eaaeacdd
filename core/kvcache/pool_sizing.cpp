#include "core/kvcache/pool_sizing.h"

#include "core/kvcache/floordiv.h"

namespace lockstep {

PoolSizingOutputs pool_sizes(const PoolSizingCase& c, double default_ratio) {
  const double r = c.ratio > 0 ? c.ratio : default_ratio;
  const double F = static_cast<double>(c.full_bytes_per_token), S = static_cast<double>(c.swa_bytes_per_token);
  const double swa_cell = S * static_cast<double>(c.num_swa_layers);
  // Same association as upstream: F*n_full + r*S*n_swa.
  const double cell = c.num_full_layers == 0 ? swa_cell : F * static_cast<double>(c.num_full_layers) + r * swa_cell;
  const auto max_tokens = static_cast<int64_t>(python_floordiv(static_cast<double>(c.available_bytes), cell));
  const int64_t ps = c.page_size;
  int64_t full = 0, swa = max_tokens / ps * ps;
  if (c.num_full_layers > 0) {
    full = max_tokens / ps * ps;
    swa = static_cast<int64_t>(static_cast<double>(full) * r) / ps * ps;
  }
  return {Tensor::from<int64_t>({2}, {full, swa})};
}

void validate(const PoolSizingCase& c) {
  require_ranges(c, "case");
  require(c.ratio >= 0 && c.ratio <= 1, "case.ratio", c.ratio, "must be in (0, 1], or 0 for the model default");
  if (c.sliding_window == 0) return;
  const int64_t swa = pool_sizes(c, default_swa_full_tokens_ratio(c.num_experts)).tokens.get_int(1);
  require(c.sliding_window + c.page_size < swa, "case.sliding_window", c.sliding_window,
          fmt::format("sliding_window + page_size ({}) >= the SWA pool's {} tokens: the pool cannot hold even one "
                      "request (spec 3.3)", c.page_size, swa));
}

}  // namespace lockstep
