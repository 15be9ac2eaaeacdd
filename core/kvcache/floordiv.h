#pragma once
/// CPython's float floor division (`a // b`), shared by the reference and device pool sizing so both
/// round exactly like the upstream configurator. Kernel-visible: <cmath> only.
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

}  // namespace lockstep
