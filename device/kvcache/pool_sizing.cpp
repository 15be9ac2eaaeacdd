#include "device/kvcache/pool_sizing.h"

#include "device/core/launch.h"
#include "device/kvcache/pool_sizing_kernel.h"

namespace lockstep::device {

PoolSizingOutputs pool_sizing(const PoolSizingCase& c, const Options& options) {
  validate(c);
  PoolSizingOutputs o;
  o.tokens = Tensor(DType::i64, {2});
  const PoolSizingParams p{c.available_bytes,     c.num_full_layers, c.num_swa_layers, c.full_bytes_per_token,
                           c.swa_bytes_per_token, c.page_size,       c.num_experts,    c.ratio,
                           options.fault,         o.tokens.data<int64_t>()};
  LaunchGrid grid;
  grid.blocks = 1;
  grid.threads = 1;
  launch(p, grid, options);
  return o;
}

}  // namespace lockstep::device
