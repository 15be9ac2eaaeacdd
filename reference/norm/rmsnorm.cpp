#include "reference/norm/rmsnorm.h"

#include <cmath>

#include <Eigen/Dense>

namespace lockstep::reference {
namespace {

using Row = Eigen::ArrayXd;

Row row_of(const Tensor& t, int64_t m, int64_t H) {
  Row a(H);
  for (int64_t i = 0; i < H; ++i) a[i] = t.get(m * H + i);
  return a;
}

Row vec_of(const Tensor& t, int64_t H) {
  if (t.empty()) return Row::Ones(H);  // rmsnorm with_scale = 0: no weight
  return row_of(t, 0, H);
}

double rrms_of(const Row& v, double eps) { return 1.0 / std::sqrt(v.square().sum() / double(v.size()) + eps); }

void store(Tensor& t, int64_t m, const Row& a) {
  for (int64_t i = 0; i < a.size(); ++i) t.set(m * a.size() + i, a[i]);
}

}  // namespace

double rrms(const double* v, int64_t n, double eps) {
  return rrms_of(Eigen::Map<const Row>(v, n), eps);
}

RmsNormOutputs rmsnorm(const RmsNormCase& c) {
  validate(c);  // before rmsnorm_out_dtype reads the variant
  return rmsnorm_in(c, rmsnorm_out_dtype(c));
}

RmsNormOutputs rmsnorm_in(const RmsNormCase& c, DType out_dtype) {
  validate(c);
  using V = RmsNormVariant;
  RmsNormOutputs o = rmsnorm_alloc(c, out_dtype);
  const int64_t M = c.rows(), H = c.width();
  const Row w = vec_of(c.w, H);
  const double s = c.scalar.empty() ? 1.0 : c.scalar.get(0);
  for (int64_t m = 0; m < M; ++m) {
    const Row x = row_of(c.x, m, H);
    switch (c.variant) {
      case V::rmsnorm: store(o.out, m, x * rrms_of(x, c.eps) * w); break;
      case V::add_rmsnorm: {
        const Row sum = x + row_of(c.r, m, H);
        store(o.residual_out, m, sum);
        store(o.out, m, sum * rrms_of(sum, c.eps) * w);
        break;
      }
      case V::rmsnorm_add: store(o.out, m, x * rrms_of(x, c.eps) * w + row_of(c.r, m, H)); break;
      case V::rmsnorm_residual_scalar: store(o.out, m, (x * rrms_of(x, c.eps) * w + row_of(c.r, m, H)) * s); break;
      case V::dual_rmsnorm_residual_scalar: {
        const Row x2 = row_of(c.x2, m, H);
        const Row cc = x * rrms_of(x, c.eps) * w + x2 * rrms_of(x2, c.eps2) * vec_of(c.w2, H);
        store(o.out, m, (cc * rrms_of(cc, c.eps3) * vec_of(c.w3, H) + row_of(c.r, m, H)) * s);
        break;
      }
      case V::post_attn_triple_rmsnorm: {
        const Row par = x * rrms_of(x, c.eps) * w + row_of(c.r, m, H);
        const Row base = par * rrms_of(par, c.eps);
        store(o.out, m, par);
        store(o.router_in, m, base * vec_of(c.w2, H));
        store(o.dense_ff_in, m, base * vec_of(c.w3, H));
        store(o.moe_in, m, base * vec_of(c.w4, H));
        break;
      }
    }
  }
  return o;
}

}  // namespace lockstep::reference
