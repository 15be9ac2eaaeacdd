#pragma once
/// Per-score bound on the fp32 error of a softmax argument, as an attention kernel computes it
/// (device/attention/ragged_paged_attention_kernel.h): s = (sum_d q_d k_d) * sm_scale in fp32, then the
/// optional soft cap c * tanhf(s / c), then expf(s - m). The reference evaluates it for every
/// (row, allowed key) in double; oracle/compare.h (attention_tolerance) turns the row maximum into an output
/// tolerance. Plain host code, no dependencies.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace lockstep {

/// fp32 unit roundoff.
inline constexpr double kF32UnitRoundoff = 0x1p-24;

/// Error bound of one capped score t = cap(s) computed in fp32, with a = |sm_scale| * sum_d |q_d k_d|
/// (>= |s|) and s the exact (double) pre-cap score:
///   pre-cap error  e = u * (sqrt(D) * a      the fp32 dot product: every partial sum and product is <= a,
///                                            their roundings add like a random walk (as tolerance_for's
///                                            atol assumes for every fp32 reduction)
///                          + a               sm_scale rounded to fp32 (relative u)
///                          + a               the product with sm_scale
///                          + a)              the division s / c inside the cap (relative u of its argument)
///   no cap:        e
///   soft cap c:    slope * e + 3 u c, where slope = 1 - tanh^2(x*/c) is the cap's largest slope on
///                  [|s| - e, |s| + e] (x* = max(0, |s| - e), mean value theorem), and 3 u c bounds tanhf
///                  (<= 2 ulp of a value <= 1) and the product with c. A saturated cap (|s| >> c) passes on
///                  almost none of the pre-cap error: that is what keeps large capped logits from inflating
///                  the tolerance.
inline double capped_score_error(double a, double s, int64_t head_dim, double cap) {
  const double u = kF32UnitRoundoff;
  const double e = u * (std::sqrt(static_cast<double>(std::max<int64_t>(head_dim, 1))) + 3) * a;
  if (!(cap > 0)) return e;
  const double x = std::max(0.0, std::fabs(s) - e) / cap;
  const double th = std::tanh(x);
  return (1 - th * th) * e + 3 * u * cap;
}

/// Error bound of one softmax argument t - m computed in fp32: the score's own error plus the rounding of
/// the subtraction (u * |t - m|, with m the row's final maximum: an online-softmax kernel subtracts a
/// running maximum m' with t <= m' <= m). An error in m itself cancels (softmax is shift-invariant, and the
/// kernel's rescaling by exp(m' - m) multiplies numerator and denominator alike), so it is not counted.
inline double softmax_argument_error(double score_error, double t, double m) {
  return score_error + kF32UnitRoundoff * std::fabs(t - m);
}

/// Bound on sum_p |w~_p - w_p| for softmax weights w_p whose arguments are perturbed by at most e_p each
/// (w~_p = w_p e^(e_p) / Z with Z = sum_q w_q e^(e_q)), given A = sum_p w_p * expm1(e_p) (exact weights):
///   w~_p - w_p = w_p ((x_p - 1) - (Z - 1)) / Z with x_p = e^(e_p), |x_p - 1| <= expm1(e_p), |Z - 1| <= A
///   => sum_p |w~_p - w_p| <= 2A / Z <= 2A / (1 - A)  (A < 1); never more than 2 (two probability vectors).
/// Weighting by w_p is what keeps keys the softmax all but ignores (far below the row maximum) from
/// inflating the bound, however large their own argument error.
inline double softmax_weight_error(double A) {
  return A < 0.5 ? std::min(2.0, 2 * A / (1 - A)) : 2.0;
}

}  // namespace lockstep
