#pragma once
/// Oracle hooks of moe_routing (its row: oracle/registry.cpp): coverage regions and the tolerance of
/// `topk_weights`. topk_ids compare exactly (the total order of decision 7 leaves no freedom).
#include <cmath>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "device/moe/moe_routing.h"
#include "fuzz/moe/moe_routing.h"
#include "oracle/compare.h"
#include "oracle/op.h"
#include "reference/moe/moe_routing.h"

namespace lockstep::oracle {
namespace routing_detail {

template <class Pred>
bool any_row(const MoeRoutingCase& c, Pred p) {
  const int64_t E = c.experts();
  std::vector<float> row(static_cast<size_t>(E));
  for (int64_t t = 0; t < c.tokens(); ++t) {
    for (int64_t e = 0; e < E; ++e) row[static_cast<size_t>(e)] = moe_logit_f32(c.gating_output, t * E + e);
    if (p(row)) return true;
  }
  return false;
}
inline bool has(const std::vector<float>& r, bool (*f)(float)) {
  for (float x : r)
    if (f(x)) return true;
  return false;
}
/// The K-th and (K+1)-th logits of a row (logit order) are equal: the tie crosses the selection boundary.
inline bool tie_at_boundary(const MoeRoutingCase& c) {
  if (c.topk >= c.experts()) return false;
  return any_row(c, [&](std::vector<float> r) {
    std::sort(r.begin(), r.end(), [](float a, float b) { return a > b; });
    for (float x : r)
      if (std::isnan(x)) return false;
    return r[static_cast<size_t>(c.topk - 1)] == r[static_cast<size_t>(c.topk)];
  });
}
/// HF's fp32 probability order may pick other experts (reference/moe/moe_routing.h moe_routing_hf: a
/// selected expert shares its fp32 probability with an expert of a different logit bit pattern, ±0 included).
inline bool probability_tie(const MoeRoutingCase& c) {
  const auto ours = reference::moe_routing(c);
  const int64_t E = c.experts(), K = c.topk;
  for (int64_t t = 0; t < c.tokens(); ++t) {
    bool finite = true;
    for (int64_t e = 0; e < E; ++e) finite = finite && std::isfinite(moe_logit_f32(c.gating_output, t * E + e));
    if (!finite) continue;
    const std::vector<double> p = reference::moe_routing_hf_probs(c, t, DType::f32);
    for (int64_t k = 0; k < K; ++k) {
      const int64_t x = ours.topk_ids.get_int(t * K + k);
      for (int64_t y = 0; y < E; ++y)
        if (p[y] == p[x] && float_bits(moe_logit_f32(c.gating_output, t * E + y)) !=
                                float_bits(moe_logit_f32(c.gating_output, t * E + x)))
          return true;
    }
  }
  return false;
}

}  // namespace routing_detail

/// Coverage regions of the moe_routing generator.
inline std::vector<Region<MoeRoutingCase>> moe_routing_regions() {
  using namespace routing_detail;
  using C = const MoeRoutingCase&;
  using Row = const std::vector<float>&;
  return Regions<MoeRoutingCase>()
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.gating_output.dtype())); })
      .values("scale_dtype", {"f32", "bf16", "f16"},
              [](C c) { return std::string(dtype_name(c.per_expert_scale.dtype())); })
      .values("experts", {"1", "pow2", "non_pow2", "256"}, [](C c) -> std::string {
        const int64_t E = c.experts();
        if (E == 256) return "256";
        return E == 1 ? "1" : (E & (E - 1)) == 0 ? "pow2" : "non_pow2";
      })
      .values("topk", {"1", "2-8", "E"}, [](C c) -> std::string {
        if (c.topk == c.experts()) return "E";
        return c.topk == 1 ? "1" : c.topk <= 8 ? "2-8" : ">8";
      })
      .values("tokens", {"0", "1", "2+"}, [](C c) { return c.tokens() == 0 ? "0" : c.tokens() == 1 ? "1" : "2+"; })
      .when("edge=tie_at_topk_boundary", tie_at_boundary)
      .when("edge=signed_zeros", [](C c) {
        return any_row(c, [](Row r) {
          return has(r, [](float x) { return x == 0 && !std::signbit(x); }) &&
                 has(r, [](float x) { return x == 0 && std::signbit(x); });
        });
      })
      .when("edge=+inf", [](C c) { return any_row(c, [](Row r) { return has(r, [](float x) { return x == INFINITY; }); }); })
      .when("edge=-inf", [](C c) { return any_row(c, [](Row r) { return has(r, [](float x) { return x == -INFINITY; }); }); })
      .when("edge=+nan", [](C c) {
        return any_row(c, [](Row r) { return has(r, [](float x) { return std::isnan(x) && !std::signbit(x); }); });
      })
      .when("edge=-nan", [](C c) {
        return any_row(c, [](Row r) { return has(r, [](float x) { return std::isnan(x) && std::signbit(x); }); });
      })
      .when("edge=all_-inf_row", [](C c) {
        return any_row(c, [](Row r) {
          for (float x : r)
            if (x != -INFINITY) return false;
          return true;
        });
      })
      .when("edge=fp32_underflow", [](C c) {  // exp(l - max) below fp32's smallest subnormal for some expert
        return any_row(c, [](Row r) {
          float m = -INFINITY, lo = INFINITY;
          for (float x : r)
            if (std::isfinite(x)) m = std::max(m, x), lo = std::min(lo, x);
          return std::isfinite(m) && m - lo > 104;
        });
      })
      .when("edge=probability_tie_changes_hf_order", probability_tie)
      .when("scale=zero", [](C c) {
        for (int64_t e = 0; e < c.experts(); ++e)
          if (c.per_expert_scale.get(e) == 0) return true;
        return false;
      })
      .when("scale=negative", [](C c) {
        for (int64_t e = 0; e < c.experts(); ++e)
          if (c.per_expert_scale.get(e) < 0) return true;
        return false;
      })
      .build();
}

/// Tolerance of `topk_weights`: atol = the reference's bound on the fp32 kernel's error (weight_error,
/// reference/moe/moe_routing.h), no rtol; NaN equals NaN in the same position (decision 7).
inline Tolerance moe_routing_tolerance(const MoeRoutingCase&, const MoeRoutingOutputs& ref, const MoeRoutingOutputs&) {
  Tolerance t;
  t.atol = ref.weight_error;
  t.nan_equal = true;
  return t;
}

}  // namespace lockstep::oracle
