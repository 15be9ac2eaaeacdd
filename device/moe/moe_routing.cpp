#include "device/moe/moe_routing.h"

#include "device/core/launch.h"
#include "device/moe/moe_routing_kernel.h"

namespace lockstep::device {
namespace {

template <class G, class S>
void run(const MoeRoutingCase& c, MoeRoutingOutputs& o, const Options& opt) {
  MoeRoutingParams<G, S> p{};
  p.gating = c.gating_output.data<G>();
  p.scale = c.per_expert_scale.data<S>();
  p.ids = o.topk_ids.data<int32_t>();
  p.weights = o.topk_weights.data<float>();
  p.tokens = c.tokens();
  p.experts = static_cast<int32_t>(c.experts());
  p.topk = static_cast<int32_t>(c.topk);
  p.block_e = static_cast<int32_t>(routing_block_e(c.experts()));
  p.fault = opt.fault;
  LaunchGrid grid;
  grid.blocks = c.tokens();
  grid.threads = 128;
  grid.smem_bytes = routing_smem_bytes(c.experts(), c.topk);
  grid.smem_user = "the routing sort (next_pow2(E) 8-byte keys)";
  grid.smem_hint = " (fewer experts)";
  if (grid.blocks > 0) launch(p, grid, opt);
}

template <class G>
void run_scale(const MoeRoutingCase& c, MoeRoutingOutputs& o, const Options& opt) {
  switch (c.per_expert_scale.dtype()) {
    case DType::bf16: return run<G, bf16>(c, o, opt);
    case DType::f16: return run<G, f16>(c, o, opt);
    default: return run<G, float>(c, o, opt);
  }
}

}  // namespace

MoeRoutingOutputs moe_routing(const MoeRoutingCase& c, const Options& opt) {
  validate(c);
  MoeRoutingOutputs o = moe_routing_alloc(c);
  switch (c.gating_output.dtype()) {
    case DType::bf16: run_scale<bf16>(c, o, opt); break;
    case DType::f16: run_scale<f16>(c, o, opt); break;
    default: run_scale<float>(c, o, opt); break;
  }
  return o;
}

}  // namespace lockstep::device
