#include "core/moe/moe_routing.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"

namespace lockstep {
namespace {

constexpr int64_t kMaxTokens = int64_t{1} << 24;

bool floating(DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; }

}  // namespace

float moe_logit_f32(const Tensor& t, int64_t i) {
  const std::byte* p = t.raw() + static_cast<size_t>(i) * dtype_size(t.dtype());
  switch (t.dtype()) {
    case DType::bf16: { bf16 v; std::memcpy(&v, p, 2); return to_float(v); }
    case DType::f16: { f16 v; std::memcpy(&v, p, 2); return to_float(v); }
    default: { float v; std::memcpy(&v, p, 4); return v; }
  }
}

void validate(const MoeRoutingCase& c) {
  const Tensor& g = c.gating_output;
  const Tensor& s = c.per_expert_scale;
  require(floating(g.dtype()), "case.gating_output", g.describe(), "dtype must be bf16, f16 or f32");
  require(g.rank() == 2, "case.gating_output", g.describe(), "must have rank 2: (T tokens, E experts)");
  const int64_t T = g.dim(0), E = g.dim(1);
  require(E >= 1 && E <= MoeRoutingCase::kMoeRoutingMaxExperts, "case.gating_output", g.describe(),
          fmt::format("E = {} experts must be in [1, {}]", E, MoeRoutingCase::kMoeRoutingMaxExperts));
  require(T <= kMaxTokens, "case.gating_output", g.describe(), fmt::format("more than {} tokens", kMaxTokens));
  require(floating(s.dtype()), "case.per_expert_scale", s.describe(), "dtype must be bf16, f16 or f32");
  require(s.rank() == 1 && s.dim(0) == E, "case.per_expert_scale", s.describe(),
          fmt::format("must have shape [E] = [{}] (E from gating_output {})", E, g.describe()));
  require(c.topk >= 1, "case.topk", c.topk, "must be >= 1");
  require(c.topk <= E, "case.topk", c.topk,
          fmt::format("must be <= E = {} (the number of experts, gating_output {})", E, g.describe()));
  for (int64_t e = 0; e < E; ++e) {
    const double v = s.get(e);
    if (!std::isfinite(v))
      throw Error(fmt::format("case.per_expert_scale[{}]", e), fmt::format("{}", v),
                  "must be finite (a model parameter)");
  }
}

MoeRoutingOutputs moe_routing_alloc(const MoeRoutingCase& c) {
  MoeRoutingOutputs o;
  o.topk_ids = Tensor(DType::i32, {c.tokens(), c.topk});
  o.topk_weights = Tensor(DType::f32, {c.tokens(), c.topk});
  return o;
}

}  // namespace lockstep
