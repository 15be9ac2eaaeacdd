#include "reference/attention/rope.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lockstep::reference {
namespace {

constexpr double kU32 = 0x1.0p-24;

/// Rotates one (T, H, hd) tensor; returns the largest error bound.
double rotate(const RopeCase& c, const Tensor& x, Tensor& out, const std::vector<double>& inv,
              const std::vector<double>& rel) {
  const int64_t T = c.num_tokens(), H = x.rank() == 3 ? x.dim(1) : 0, hd = c.head_dim, h = hd / 2;
  const int64_t pairs = static_cast<int64_t>(inv.size());
  double worst = 0;
  for (int64_t t = 0; t < T; ++t) {
    const double pos = static_cast<double>(c.positions.get_int(t));
    for (int64_t head = 0; head < H; ++head) {
      const int64_t base = (t * H + head) * hd;  // (t, head, :)
      for (int64_t i = 0; i < h; ++i) {
        const double a = x.get(base + i), b = x.get(base + i + h);
        if (i >= pairs) {  // zero frequency: cos 1, sin 0
          out.set(base + i, a);
          out.set(base + i + h, b);
          continue;
        }
        const double ang = pos * inv[static_cast<size_t>(i)];
        const double cs = std::cos(ang), sn = std::sin(ang);
        out.set(base + i, a * cs - b * sn);
        out.set(base + i + h, b * cs + a * sn);
        worst = std::max(worst, rope_pair_error(a, b, std::abs(ang) * rel[static_cast<size_t>(i)], c.dtype));
      }
    }
  }
  return worst;
}

}  // namespace

double rope_angle_rel_error(const RopeCase& c, int64_t i) {
  if (i == 0) return 0.0;
  const double e = 2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim);
  const double d = std::expm1(e * std::abs(std::log(c.theta)) * kU32 + e * (1 + kU32) * kU32 / (1 - kU32));
  // inv_f = RN_f32(1 / pow_f32(theta_f, e_f)) as HF evaluates it (torch fp32 pow, then an fp32 reciprocal):
  // the pow within 4 ulp of its exact value (CUDA's documented powf bound; glibc's powf: 0.82 ulp), the
  // reciprocal one rounding. It covers the device's double pow and reciprocal (one rounding) too.
  const double d2 = (1 + 4 * 0x1.0p-23) * (1 + kU32) - 1, d3 = kU32;
  return (1 + d) * (1 + d2) * (1 + d3) - 1;
}

double rope_pair_error(double x, double y, double da, DType dtype) {
  const double u = dtype == DType::bf16 ? 0x1.0p-8 : dtype == DType::f16 ? 0x1.0p-11 : 0.0;
  return da * std::hypot(x, y) + (std::abs(x) + std::abs(y)) * (2.5 * 0x1.0p-23 + 0x1.0p-23 * (1 + 0x1.0p-24)) +
         (std::abs(x) + std::abs(y)) * (2 * u + u * u);
}

RopeOutputs rope(const RopeCase& c) {
  validate(c);
  const int64_t pairs = rope_rotated_pairs(c);
  std::vector<double> inv(static_cast<size_t>(pairs)), rel(static_cast<size_t>(pairs));
  for (int64_t i = 0; i < pairs; ++i) {
    inv[static_cast<size_t>(i)] = std::pow(c.theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
    rel[static_cast<size_t>(i)] = rope_angle_rel_error(c, i);
  }
  RopeOutputs o;
  o.q = Tensor(c.dtype, c.q.shape());  // (T, nq, hd)
  o.k = Tensor(c.dtype, c.k.shape());  // (T, nkv, hd)
  o.abs_error = std::max(rotate(c, c.q, o.q, inv, rel), rotate(c, c.k, o.k, inv, rel));
  return o;
}

}  // namespace lockstep::reference
