#include "fuzz/norm/rmsnorm.h"

#include <cmath>

#include "core/data.h"
#include "fuzz/core/pick.h"
#include "fuzz/norm/norm_data.h"
#include "reference/norm/rmsnorm.h"

namespace lockstep::fuzz {

using namespace norm_data;

RmsNormCase materialize(const RmsNormSpec& spec) {
  using V = RmsNormVariant;
  SplitMix rng{spec.data_seed};
  RmsNormCase c;
  c.variant = spec.variant;
  c.dtype = spec.dtype;
  c.with_scale = spec.variant == V::rmsnorm ? spec.with_scale : 1;
  c.eps = spec.eps;
  if (spec.variant == V::dual_rmsnorm_residual_scalar) {
    c.eps2 = spec.eps2;
    c.eps3 = spec.eps3;
  }
  c.data_seed = static_cast<int64_t>(spec.data_seed);
  const int64_t M = spec.rows, H = spec.width;
  const double xs = x_scale(spec.magnitude, spec.dtype);
  c.x = Tensor(spec.dtype, {M, H});
  fill(c.x, rng, xs);
  if (spec.zero_rows && M > 0)
    for (int64_t m = 0; m < M; ++m)
      if (m == 0 || rng.below(3) == 0)
        for (int64_t i = 0; i < H; ++i) c.x.set(m * H + i, 0.0);
  const RmsNormUses u = rmsnorm_uses(c);
  auto weight = [&](Tensor& w, int32_t mode) {
    w = Tensor(spec.dtype, {H});
    fill_weight(w, rng, mode);
  };
  if (u.w) weight(c.w, spec.w_mode);
  if (u.w2) {
    weight(c.w2, spec.w_mode);
    if (spec.variant == V::post_attn_triple_rmsnorm)  // router_scale: bf16(scale * H^-0.5), §2.3
      for (int64_t i = 0; i < H; ++i) c.w2.set(i, round_to(DType::bf16, c.w2.get(i) * round_to(DType::bf16, 1 / std::sqrt(double(H)))));
  }
  if (u.w3) weight(c.w3, spec.w_mode == 1 ? 1 : 0);
  if (u.w4) weight(c.w4, spec.w_mode == 1 ? 1 : 2);
  if (u.x2) {
    c.x2 = Tensor(spec.dtype, {M, H});
    fill(c.x2, rng, x_scale(static_cast<int32_t>(rng.below(3)), spec.dtype));
  }
  if (u.scalar) {
    c.scalar = Tensor(spec.dtype, {1});
    c.scalar.set(0, spec.scalar);
  }
  if (u.r) {
    c.r = Tensor(spec.dtype, {M, H});
    if (spec.r_mode == 3) {
      // r = -(x*rrms(x)*w) rounded: the sum cancels (rmsnorm_add & co; add_rmsnorm: s small).
      const bool add_first = spec.variant == V::add_rmsnorm;
      for (int64_t m = 0; m < M; ++m) {
        std::vector<double> row(static_cast<size_t>(H));
        for (int64_t i = 0; i < H; ++i) row[i] = c.x.get(m * H + i);
        const double rr = add_first ? 1.0 : reference::rrms(row.data(), H, c.eps);
        for (int64_t i = 0; i < H; ++i) {
          const double n = row[i] * rr * (add_first || c.w.empty() ? 1.0 : c.w.get(i));
          c.r.set(m * H + i, -n * (1 + (rng.uniform() - 0.5) * 1e-2));
        }
      }
    } else {
      const double rs = spec.r_mode == 1 ? xs / 32 : spec.r_mode == 2 ? xs * 32 : xs;
      fill(c.r, rng, std::min(rs, spec.dtype == DType::f16 ? 1e4 : 1e30));
    }
  }
  return c;
}

rc::Gen<RmsNormSpec> gen_rmsnorm_spec() {
  return rc::gen::exec([] {
    using V = RmsNormVariant;
    RmsNormSpec s;
    s.variant = pick({V::rmsnorm, V::add_rmsnorm, V::rmsnorm_add, V::rmsnorm_residual_scalar,
                      V::dual_rmsnorm_residual_scalar, V::post_attn_triple_rmsnorm});
    s.dtype = pick({DType::f32, DType::bf16, DType::f16});
    s.width = pick({1, 2, 3, 5, 8, 17, 32, 64, 127, 256, 1000, 2816, 4096});
    if (*rc::gen::inRange(0, 4) == 0) s.width = *rc::gen::inRange(1, 300);
    const int32_t max_rows = std::max(1, 8192 / s.width);
    s.rows = pick({1, 2, 3, 0, 4, 8});
    s.rows = std::min(s.rows, max_rows);
    s.with_scale = pick({1, 0});
    auto eps = [] { return pick({1e-6, 1e-5, 1e-3, 0.1, 1.0, 3e-7}); };
    s.eps = eps();
    s.eps2 = eps();
    s.eps3 = eps();
    s.magnitude = pick({0, 1, 2, 3, 4});
    s.r_mode = pick({0, 1, 2, 3});
    s.w_mode = pick({0, 1, 2, 3});
    s.scalar = pick({1.0, 0.0, -1.0, 0.5, -0.0, 2.5, -0.375});
    s.zero_rows = pick({0, 0, 0, 1});
    s.data_seed = *rc::gen::arbitrary<uint64_t>();
    return s;
  });
}

rc::Gen<RmsNormCase> gen_rmsnorm_case() {
  return rc::gen::map(gen_rmsnorm_spec(), [](const RmsNormSpec& s) { return materialize(s); });
}

BatchingRule<RmsNormCase, RmsNormOutputs> rmsnorm_batching_rule() {
  BatchingRule<RmsNormCase, RmsNormOutputs> rule;
  rule.slices = [](const RmsNormCase& c) { return c.rows(); };
  rule.slice_case = [](const RmsNormCase& c, int64_t i) {
    RmsNormCase s = c;
    s.x = leading_row(c.x, i);
    s.r = leading_row(c.r, i);
    s.x2 = leading_row(c.x2, i);
    return s;
  };
  rule.slice_outputs = [](const RmsNormOutputs& o, const RmsNormCase&, int64_t i) {
    RmsNormOutputs s;
    s.out = leading_row(o.out, i);
    s.residual_out = leading_row(o.residual_out, i);
    s.router_in = leading_row(o.router_in, i);
    s.dense_ff_in = leading_row(o.dense_ff_in, i);
    s.moe_in = leading_row(o.moe_in, i);
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
