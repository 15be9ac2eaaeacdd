#include "reference/activation/gelu_tanh_mul.h"

#include <algorithm>
#include <cmath>

namespace lockstep::reference {
namespace {

constexpr double kU32 = 0x1.0p-24;  // fp32 unit roundoff

}  // namespace

double gelu_tanh(double g) {
  return 0.5 * g * (1.0 + std::tanh(kGeluSqrt2OverPi * (g + kGeluCubic * g * g * g)));
}

double gelu_tanh_mul_fp32_rel() { return 4 * kU32 / (1 - 4 * kU32); }

GeluFp32Error gelu_tanh_mul_fp32_error(double g, double ple) {
  const double u = kGeluSqrt2OverPi * (g + kGeluCubic * g * g * g);
  const double t = std::tanh(u);
  const double d_u = 7 * kU32 / (1 - 7 * kU32);
  const double du = std::abs(u) * d_u + 0x1.0p-146;
  const double sech = 1.0 / std::cosh(u);  // 0 once cosh overflows (|u| > ~710): tanh is flat there
  const double arg_err = sech * sech * std::exp(std::min(2 * du, 700.0)) * du;
  const double tanh_err = 2.5 * 0x1.0p-23 * std::abs(t) + 0x1.0p-147;
  const double dt = tanh_err + (std::isfinite(arg_err) ? arg_err : 2.0);  // |t~ - t| <= 2 always
  GeluFp32Error e;
  e.abs = 0.5 * std::abs(g * ple) * std::min(dt, 2.0) * (1 + gelu_tanh_mul_fp32_rel()) +
          0x1.0p-148 * (1 + std::abs(ple));
  return e;
}

GeluTanhMulOutputs gelu_tanh_mul(const GeluTanhMulCase& c) {
  validate(c);
  GeluTanhMulOutputs o;
  o.out = Tensor(c.gate.dtype(), c.gate.shape());  // (M, N)
  for (int64_t i = 0; i < c.gate.numel(); ++i) {
    const double g = c.gate.get(i), p = c.ple.get(i);
    o.out.set(i, gelu_tanh(g) * p);
    o.abs_error = std::max(o.abs_error, gelu_tanh_mul_fp32_error(g, p).abs);
  }
  return o;
}

}  // namespace lockstep::reference
