#include "core/norm/rmsnorm.h"

#include <cfloat>
#include <cmath>

#include "core/error.h"

namespace lockstep {
namespace {

constexpr int64_t kMaxWidth = 65536;          // H: the fp32 sum-of-squares bound stays meaningful
constexpr int64_t kMaxElements = int64_t{1} << 24;  // per (M,H) tensor

bool floating_storage(DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; }

void check_eps(double e, const std::string& field) {
  require(std::isfinite(e) && e >= FLT_MIN && e <= 1e4, field, e,
          "must be finite and in [FLT_MIN, 1e4] (a positive fp32 normal number: rrms of a zero row is 1/sqrt(eps))");
}

void check_finite(const Tensor& t, const std::string& field) {
  const std::vector<double> v = t.values();
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw Error(field + "[" + std::to_string(i) + "]", fmt::format("{}", v[i]), "must be finite");
}

}  // namespace

RmsNormUses rmsnorm_uses(const RmsNormCase& c) {
  using V = RmsNormVariant;
  RmsNormUses u{};
  switch (c.variant) {
    case V::rmsnorm: u.w = c.with_scale != 0; break;
    case V::add_rmsnorm:
    case V::rmsnorm_add: u.r = u.w = true; break;
    case V::rmsnorm_residual_scalar: u.r = u.w = u.scalar = true; break;
    case V::dual_rmsnorm_residual_scalar: u.r = u.x2 = u.w = u.w2 = u.w3 = u.scalar = true; break;
    case V::post_attn_triple_rmsnorm: u.r = u.w = u.w2 = u.w3 = u.w4 = true; break;
  }
  return u;
}

DType rmsnorm_out_dtype(const RmsNormCase& c) {
  return c.variant == RmsNormVariant::post_attn_triple_rmsnorm ? DType::bf16 : c.dtype;
}

void validate(const RmsNormCase& c) {
  require(static_cast<int>(c.variant) >= 0 && static_cast<int>(c.variant) <= 5, "case.variant",
          static_cast<int>(c.variant), "unknown variant");
  require(floating_storage(c.dtype), "case.dtype", dtype_name(c.dtype), "must be f32, bf16 or f16");
  require(c.with_scale == 0 || c.with_scale == 1, "case.with_scale", c.with_scale, "must be 0 or 1");
  require(c.with_scale == 1 || c.variant == RmsNormVariant::rmsnorm, "case.with_scale", c.with_scale,
          fmt::format("must be 1 for variant {} (only plain rmsnorm has a no-weight form)", enum_name(c.variant)));
  check_eps(c.eps, "case.eps");
  if (c.variant == RmsNormVariant::dual_rmsnorm_residual_scalar) {
    check_eps(c.eps2, "case.eps2");
    check_eps(c.eps3, "case.eps3");
  } else {
    require(c.eps2 == 0, "case.eps2", c.eps2, fmt::format("must be 0 for variant {} (dual only)", enum_name(c.variant)));
    require(c.eps3 == 0, "case.eps3", c.eps3, fmt::format("must be 0 for variant {} (dual only)", enum_name(c.variant)));
  }
  require(c.x.rank() == 2, "case.x", c.x.describe(), "must have rank 2: (M rows, H)");
  const int64_t M = c.x.dim(0), H = c.x.dim(1);
  require(H >= 1 && H <= kMaxWidth, "case.x", c.x.describe(), fmt::format("width H must be in [1, {}]", kMaxWidth));
  require(c.x.numel() <= kMaxElements, "case.x", c.x.describe(), "too many elements");
  const RmsNormUses u = rmsnorm_uses(c);
  auto tensor = [&](const Tensor& t, const char* name, bool used, const Shape& shape) {
    const std::string field = std::string("case.") + name;
    if (!used) {
      require(t.empty() && t.rank() <= 1, field, t.describe(),
              fmt::format("must be empty: variant {}{} does not read it", enum_name(c.variant),
                          c.variant == RmsNormVariant::rmsnorm && c.with_scale == 0 ? " with_scale=0" : ""));
      return;
    }
    require(t.dtype() == c.dtype, field, t.describe(), fmt::format("dtype must equal case.dtype {}", dtype_name(c.dtype)));
    require(t.shape() == shape, field, t.describe(), fmt::format("shape must be {}", shape_str(shape)));
    check_finite(t, field);
  };
  tensor(c.x, "x", true, {M, H});
  tensor(c.r, "r", u.r, {M, H});
  tensor(c.x2, "x2", u.x2, {M, H});
  tensor(c.w, "w", u.w, {H});
  tensor(c.w2, "w2", u.w2, {H});
  tensor(c.w3, "w3", u.w3, {H});
  tensor(c.w4, "w4", u.w4, {H});
  tensor(c.scalar, "scalar", u.scalar, {1});
}

RmsNormOutputs rmsnorm_alloc(const RmsNormCase& c, DType out_dtype) {
  RmsNormOutputs o;
  const Shape s{c.rows(), c.width()};
  o.out = Tensor(out_dtype, s);
  if (c.variant == RmsNormVariant::add_rmsnorm) o.residual_out = Tensor(out_dtype, s);
  if (c.variant == RmsNormVariant::post_attn_triple_rmsnorm) {
    o.router_in = Tensor(out_dtype, s);
    o.dense_ff_in = Tensor(out_dtype, s);
    o.moe_in = Tensor(out_dtype, s);
  }
  return o;
}

}  // namespace lockstep
