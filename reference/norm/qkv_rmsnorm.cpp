#include "reference/norm/qkv_rmsnorm.h"

#include <Eigen/Dense>

#include "reference/norm/rmsnorm.h"

namespace lockstep::reference {
namespace {

/// Normalises every head of `in` (T, heads*hd) into `out`, times `weight` (hd) when given.
void heads(const Tensor& in, const Tensor* weight, int64_t hd, double eps, Tensor& out) {
  const int64_t n = in.numel() / hd;  // (token, head) pairs
  Eigen::ArrayXd w = Eigen::ArrayXd::Ones(hd);
  if (weight)
    for (int64_t d = 0; d < hd; ++d) w[d] = weight->get(d);
  Eigen::ArrayXd v(hd);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t d = 0; d < hd; ++d) v[d] = in.get(j * hd + d);
    const Eigen::ArrayXd y = v * rrms(v.data(), hd, eps) * w;
    for (int64_t d = 0; d < hd; ++d) out.set(j * hd + d, y[d]);
  }
}

}  // namespace

QkvRmsNormOutputs qkv_rmsnorm(const QkvRmsNormCase& c) {
  validate(c);
  QkvRmsNormOutputs o = qkv_rmsnorm_alloc(c, c.dtype);
  heads(c.q, &c.q_weight, c.head_dim, c.eps, o.q_out);
  if (c.kv_shared == 0) {
    heads(c.k, &c.k_weight, c.head_dim, c.eps, o.k_out);
    heads(c.v, nullptr, c.head_dim, c.eps, o.v_out);
  }
  return o;
}

}  // namespace lockstep::reference
