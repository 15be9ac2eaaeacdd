#pragma once
/// The tolerance of an elementwise fp32 kernel's output against the double reference, both stored in the
/// output dtype. Given a bound on the fp32 evaluation's error, |d - r| <= abs + rel |r| (d the kernel's fp32
/// value, r the exact result; derived per op from its arithmetic), the two stored values RN(d) and RN(r)
/// (round to nearest even in `out`, unit roundoff u, smallest subnormal s) satisfy
///   |RN(d) - RN(r)| <= |RN(d) - d| + |d - r| + |r - RN(r)|
///                   <= u |d| + u |r| + s + abs + rel |r|                   (|RN(x) - x| <= u |x| + s/2)
///                   <= abs (1 + u) + s + k |r|,   k = 2u + rel (1 + u)     (|d| <= |r| (1 + rel) + abs)
/// and |r| <= (|RN(r)| + s/2) / (1 - u), so with R = RN(r) the stored reference:
///   atol = abs (1 + u) + s (1 + k / (2 (1 - u))),   rtol = k / (1 - u).
/// For an f32 output the kernel's d is not rounded again, so the first term over-counts by u |d| (harmless).
#include <cmath>

#include "core/tensor.h"
#include "oracle/compare.h"

namespace lockstep::oracle {

/// Unit roundoff and smallest subnormal of a floating storage dtype.
inline double unit_roundoff(DType d) {
  return d == DType::bf16 ? 0x1.0p-8 : d == DType::f16 ? 0x1.0p-11 : 0x1.0p-24;
}
inline double smallest_subnormal(DType d) {
  return d == DType::bf16 ? 0x1.0p-133 : d == DType::f16 ? 0x1.0p-24 : 0x1.0p-149;
}

inline Tolerance stored_output_tolerance(DType out, double abs, double rel) {
  const double u = unit_roundoff(out), s = smallest_subnormal(out);
  const double k = 2 * u + rel * (1 + u);
  return Tolerance{abs * (1 + u) + s * (1 + k / (2 * (1 - u))), k / (1 - u)};
}

}  // namespace lockstep::oracle
