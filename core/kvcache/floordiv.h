#pragma once
/// CPython's floor division (`a // b`): on floats, shared by the reference and device pool sizing so both
/// round exactly like the upstream configurator; on integers, for the reference page tables (`tok // ps`
/// with tok = -1 gives -1, where C++ `/` truncates to 0). Kernel-visible: <cmath> and <cstdint> only.
#include <cstdint>
#include <cmath>

#include "core/config.h"

namespace lockstep {

LS_HD inline double python_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

/// Integer `a // b` for b > 0: rounds toward negative infinity (-1 // 4 == -1).
LS_HD inline int64_t python_floordiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return q * b > a ? q - 1 : q;
}

}  // namespace lockstep
