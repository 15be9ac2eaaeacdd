#include "reference/moe/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace lockstep::reference {
namespace {

/// Classes of the order, best first: positive NaN, numbers (incl. +-inf, +-0), negative NaN.
enum class ValueClass { positive_nan = 0, number = 1, negative_nan = 2 };

ValueClass value_class(float x) {
  if (!std::isnan(x)) return ValueClass::number;
  return std::signbit(x) ? ValueClass::negative_nan : ValueClass::positive_nan;
}

uint32_t nan_payload(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u & 0x007fffffu;
}

std::vector<int64_t> row_order(const MoeRoutingCase& c, int64_t t) {
  const int64_t E = c.experts();
  std::vector<float> l(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) l[static_cast<size_t>(e)] = moe_logit_f32(c.gating_output, t * E + e);
  std::vector<int64_t> ids(static_cast<size_t>(E));
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
    return routing_ranks_before(l[static_cast<size_t>(a)], a, l[static_cast<size_t>(b)], b);
  });
  return ids;
}

constexpr double kU = 0x1p-24;         // unit roundoff of fp32
constexpr double kSubAbs = 0x1p-148;   // exp2f's absolute error on subnormal results (2 ulp of 2^-149)

}  // namespace

bool routing_ranks_before(float a, int64_t ia, float b, int64_t ib) {
  const ValueClass ca = value_class(a), cb = value_class(b);
  if (ca != cb) return ca < cb;
  switch (ca) {
    case ValueClass::positive_nan:  // a larger payload ranks higher
      if (nan_payload(a) != nan_payload(b)) return nan_payload(a) > nan_payload(b);
      break;
    case ValueClass::negative_nan:  // a larger payload ranks lower (further below -inf)
      if (nan_payload(a) != nan_payload(b)) return nan_payload(a) < nan_payload(b);
      break;
    case ValueClass::number:
      if (a != b) return a > b;
      if (a == 0 && std::signbit(a) != std::signbit(b)) return !std::signbit(a);  // +0 above -0
      break;
  }
  return ia < ib;
}

MoeRoutingOutputs moe_routing(const MoeRoutingCase& c) {
  validate(c);
  MoeRoutingOutputs o = moe_routing_alloc(c);
  const int64_t T = c.tokens(), E = c.experts(), K = c.topk;
  auto ids = o.topk_ids.span<int32_t>();
  auto w = o.topk_weights.span<float>();
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<int64_t> order = row_order(c, t);
    const double max = moe_logit_f32(c.gating_output, t * E + order[0]);
    std::vector<double> r(static_cast<size_t>(K)), d(static_cast<size_t>(K));
    double S = 0;
    for (int64_t k = 0; k < K; ++k) {
      d[k] = static_cast<double>(moe_logit_f32(c.gating_output, t * E + order[k])) - max;
      r[k] = std::exp(d[k]);
      S += r[k];
    }
    const bool guarded = !(S > 0);
    if (guarded) S = 1;  // §1.3: S = S > 0 ? S : 1 (only a NaN S gets here: r_0 = exp(0) = 1 otherwise)
    // Error bound of the fp32 kernel (header).
    const double u3 = kU * (1 + 0x1p-20);
    double weighted = 0;
    std::vector<double> e(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      e[k] = std::isfinite(d[k]) ? (1 + 4 * kU) * std::exp(3 * u3 * std::fabs(d[k])) - 1 : 0;
      if (std::isfinite(r[k])) weighted += r[k] * e[k];
    }
    const double eps_s = guarded ? 0 : (1 + (weighted + K * kSubAbs) / S) * std::pow(1 + kU, K - 1) - 1;
    const double theta = std::pow(1 + kU, 3) - 1;
    for (int64_t k = 0; k < K; ++k) {
      const double sc = c.per_expert_scale.get(order[k]);
      const double wk = r[k] / S * sc;
      ids[t * K + k] = static_cast<int32_t>(order[k]);
      w[t * K + k] = static_cast<float>(wk);
      if (!std::isfinite(wk)) continue;
      const double bound = std::fabs(sc) / S * ((r[k] * (1 + e[k]) + kSubAbs) * (1 + theta) / (1 - eps_s) - r[k]) +
                           kU * std::fabs(wk) + 3 * 0x1p-150;
      o.weight_error = std::max(o.weight_error, bound);
    }
  }
  return o;
}

std::vector<double> moe_routing_hf_probs(const MoeRoutingCase& c, int64_t t, DType prob_dtype) {
  const int64_t E = c.experts();
  std::vector<double> l(static_cast<size_t>(E)), p(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) l[e] = moe_logit_f32(c.gating_output, t * E + e);
  const double max = *std::max_element(l.begin(), l.end());
  double sum = 0;
  for (int64_t e = 0; e < E; ++e) sum += p[e] = std::exp(l[e] - max);
  for (int64_t e = 0; e < E; ++e) p[e] = round_to(prob_dtype, p[e] / sum);
  return p;
}

MoeRoutingOutputs moe_routing_hf(const MoeRoutingCase& c, DType prob_dtype) {
  validate(c);
  MoeRoutingOutputs o = moe_routing_alloc(c);
  const int64_t T = c.tokens(), E = c.experts(), K = c.topk;
  auto ids = o.topk_ids.span<int32_t>();
  auto w = o.topk_weights.span<float>();
  for (int64_t t = 0; t < T; ++t) {
    bool finite = true;
    for (int64_t e = 0; e < E; ++e) finite = finite && std::isfinite(moe_logit_f32(c.gating_output, t * E + e));
    if (!finite) continue;
    const std::vector<double> p = moe_routing_hf_probs(c, t, prob_dtype);
    std::vector<int64_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += p[order[k]];
    for (int64_t k = 0; k < K; ++k) {
      ids[t * K + k] = static_cast<int32_t>(order[k]);
      w[t * K + k] = static_cast<float>(p[order[k]] / sum * c.per_expert_scale.get(order[k]));
    }
  }
  return o;
}

}  // namespace lockstep::reference
