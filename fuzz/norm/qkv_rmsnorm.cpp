#include "fuzz/norm/qkv_rmsnorm.h"

#include <algorithm>

#include "fuzz/core/pick.h"
#include "fuzz/norm/norm_data.h"

namespace lockstep::fuzz {

using namespace norm_data;

QkvRmsNormCase materialize(const QkvNormSpec& spec) {
  SplitMix rng{spec.data_seed};
  QkvRmsNormCase c;
  c.dtype = spec.dtype;
  c.num_q_heads = spec.nq;
  c.num_kv_heads = spec.nkv;
  c.head_dim = spec.head_dim;
  c.kv_shared = spec.kv_shared;
  c.eps = spec.eps;
  c.data_seed = static_cast<int64_t>(spec.data_seed);
  const double xs = x_scale(spec.magnitude, spec.dtype);
  const int64_t T = spec.tokens, hd = spec.head_dim;
  c.q = Tensor(spec.dtype, {T, spec.nq * hd});
  fill(c.q, rng, xs);
  c.q_weight = Tensor(spec.dtype, {hd});
  fill_weight(c.q_weight, rng, static_cast<int32_t>(rng.below(4)));
  if (!spec.kv_shared) {
    c.k = Tensor(spec.dtype, {T, spec.nkv * hd});
    c.v = Tensor(spec.dtype, {T, spec.nkv * hd});
    fill(c.k, rng, xs);
    fill(c.v, rng, xs);
    c.k_weight = Tensor(spec.dtype, {hd});
    fill_weight(c.k_weight, rng, static_cast<int32_t>(rng.below(4)));
    if (T > 0 && rng.below(4) == 0)  // a zero head: rrms = 1/sqrt(eps)
      for (int64_t d = 0; d < hd; ++d) c.v.set(d, 0.0);
  }
  return c;
}

rc::Gen<QkvRmsNormCase> gen_qkv_rmsnorm_case() {
  auto spec = rc::gen::exec([] {
    QkvNormSpec s;
    s.dtype = pick({DType::f32, DType::bf16, DType::f16});
    s.head_dim = pick({1, 4, 7, 16, 33, 64, 128, 256, 512});
    s.nkv = pick({1, 2, 3, 4});
    s.nq = pick({1, 2, 4, 8}) * s.nkv;
    if (*rc::gen::inRange(0, 3) == 0) s.nq = *rc::gen::inRange(1, 9);  // independent of nkv (may not divide)
    s.tokens = std::min(pick({1, 2, 3, 0, 5, 8}), std::max(1, 16384 / (s.head_dim * (s.nq + 2 * s.nkv))));
    s.kv_shared = pick({0, 1});
    s.eps = pick({1e-6, 1e-5, 1e-3, 0.1, 1.0});
    s.magnitude = pick({0, 1, 2, 3, 4});
    s.data_seed = *rc::gen::arbitrary<uint64_t>();
    return s;
  });
  return rc::gen::map(spec, [](const QkvNormSpec& s) { return materialize(s); });
}

BatchingRule<QkvRmsNormCase, QkvRmsNormOutputs> qkv_rmsnorm_batching_rule() {
  BatchingRule<QkvRmsNormCase, QkvRmsNormOutputs> rule;
  rule.slices = [](const QkvRmsNormCase& c) { return c.tokens(); };
  rule.slice_case = [](const QkvRmsNormCase& c, int64_t i) {
    QkvRmsNormCase s = c;
    s.q = leading_row(c.q, i);
    s.k = leading_row(c.k, i);
    s.v = leading_row(c.v, i);
    return s;
  };
  rule.slice_outputs = [](const QkvRmsNormOutputs& o, const QkvRmsNormCase&, int64_t i) {
    QkvRmsNormOutputs s;
    s.q_out = leading_row(o.q_out, i);
    s.k_out = leading_row(o.k_out, i);
    s.v_out = leading_row(o.v_out, i);
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
