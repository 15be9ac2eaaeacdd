#pragma once
/// Error bounds of the fp32 RMSNorm kernels (device/norm/), derived from the arithmetic; used by the
/// tolerances of `rmsnorm` and `qkv_rmsnorm` (oracle/norm/*.h). u = 2^-24 (fp32 unit roundoff),
/// g(n) = n u / (1 - n u) (Higham's gamma_n).
///
/// rrms of a row of width H whose inputs the kernel holds exactly (loaded bf16/f16/f32 values):
///   sum of H squares in any order (the block tree): |S' - S| <= g(H) S (non-negative terms);
///   / H, + eps (eps itself rounded to fp32), and fp32 underflow of the squares (<= H 2^-150 absolute,
///   i.e. <= 2^-149 after / H, <= 2u relative since eps >= FLT_MIN = 2^-126): v' = (ms + eps)(1 + d),
///   |d| <= g(H + 5);
///   (1 + d)^(-1/2) - 1 | <= |d| / (2 (1 - |d|)^(3/2))   (mean value theorem), then rsqrt itself:
///   CUDA rsqrtf <= 2 ulp <= 4u relative, the CPU's 1/sqrtf two roundings <= 2u: 4u.
/// A normalised element n = (x * rrms) * w: two more roundings.
/// Inputs perturbed before the reduction (the dual's c = n1 + n2, the triple's par = n + r): c' = c + d
/// with |d_i| <= d_i bounds; then |sum c'^2 - sum c^2| <= 2 ||c|| ||d|| + ||d||^2 (Cauchy-Schwarz) plus the
/// summation error g(H) (||c|| + ||d||)^2, relative to v = ms_c + eps as above.
/// Output stores: reference and device each round once to the output dtype O (unit roundoff u_O, half the
/// subnormal spacing s_O); with |y' - y| <= a + e |y| before the store and |y| <= (|ref| + s_O) / (1 - u_O):
///   |dev - ref| <= a (1 + u_O) + 2 s_O + rtol s_O + rtol |ref|,  rtol = (e + 2 u_O + u_O e) / (1 - u_O).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/tensor.h"
#include "oracle/compare.h"
#include "oracle/rounding_tolerance.h"

namespace lockstep::oracle::norm_error {

inline constexpr double u = 0x1.0p-24;
inline double g(double n) { return n * u / (1 - n * u); }

/// |(1 + d)^(-1/2) - 1| for |d| <= rel (infinite when rel >= 1: no bound).
inline double inv_sqrt_rel(double rel) {
  if (rel >= 1) return std::numeric_limits<double>::infinity();
  return rel / (2 * std::pow(1 - rel, 1.5));
}

/// Relative error of rrms for exactly held inputs of width H.
inline double rrms_rel(int64_t H) { return (1 + inv_sqrt_rel(g(double(H) + 5))) * (1 + 4 * u) - 1; }

/// Relative error of a normalised element (x * rrms) * w.
inline double normed_rel(int64_t H) { return (1 + rrms_rel(H)) * (1 + u) * (1 + u) - 1; }

/// Relative error of rrms from perturbed inputs: ||c|| and ||d|| (2-norms), H, the exact v = ms + eps.
inline double rrms_rel_perturbed(double c_norm, double d_norm, int64_t H, double v) {
  const double dsum = 2 * c_norm * d_norm + d_norm * d_norm + g(double(H)) * (c_norm + d_norm) * (c_norm + d_norm);
  const double dv = dsum / double(H);
  const double rel = (dv + g(5) * (v + dv)) / v;
  return (1 + inv_sqrt_rel(rel)) * (1 + 4 * u) - 1;
}

/// Tolerance of an output stored in `out` whose fp32 value before the store is within a + e |y| of the
/// exact y; `tiny` adds fp32 underflow of intermediate products (absolute). The store-rounding widening is
/// the one every elementwise op uses (oracle/rounding_tolerance.h, derivation there; the same bound as the
/// header's "Output stores" line).
inline Tolerance stored(DType out, double a, double e, double tiny = 0) {
  return stored_output_tolerance(out, a + tiny, e);
}

/// Elementwise max of two tolerances (one Tolerance covers every Rule::tolerance output of a case).
inline Tolerance widest(Tolerance a, const Tolerance& b) {
  a.atol = std::max(a.atol, b.atol);
  a.rtol = std::max(a.rtol, b.rtol);
  return a;
}

}  // namespace lockstep::oracle::norm_error
