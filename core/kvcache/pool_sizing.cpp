#include "core/kvcache/pool_sizing.h"

#include "core/error.h"

namespace lockstep {

void validate(const PoolSizingCase& c) {
  require(c.available_bytes >= 0, "case.available_bytes", c.available_bytes, "must be >= 0");
  require(c.num_full_layers >= 0, "case.num_full_layers", c.num_full_layers, "must be >= 0");
  require(c.num_swa_layers >= 1, "case.num_swa_layers", c.num_swa_layers, "a hybrid SWA model needs >= 1 SWA layer");
  require(c.full_bytes_per_token >= 1, "case.full_bytes_per_token", c.full_bytes_per_token, "must be >= 1");
  require(c.swa_bytes_per_token >= 1, "case.swa_bytes_per_token", c.swa_bytes_per_token, "must be >= 1");
  require(c.page_size >= 1, "case.page_size", c.page_size, "must be >= 1");
  require(c.num_experts >= 0, "case.num_experts", c.num_experts, "must be >= 0");
  require(c.ratio >= 0 && c.ratio <= 1, "case.ratio", c.ratio, "must be in (0, 1], or 0 for the model default");
  require(c.sliding_window >= 0, "case.sliding_window", c.sliding_window, "must be >= 0");
}

}  // namespace lockstep
