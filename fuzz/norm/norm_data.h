#pragma once
/// Value helpers shared by the norm generators (fuzz/norm/rmsnorm.cpp, fuzz/norm/qkv_rmsnorm.cpp).
#include <cmath>
#include <cstdint>

#include "core/data.h"
#include "core/tensor.h"

namespace lockstep::fuzz::norm_data {

/// Scale of x for a magnitude class and dtype (f16's range is small: max 65504, normal from 6.1e-5).
inline double x_scale(int32_t magnitude, DType dt) {
  const bool half = dt == DType::f16;
  switch (magnitude) {
    case 1: return 1e-3;
    case 2: return half ? 50.0 : 1e3;
    case 3: return half ? 1e-5 : 1e-20;  // f16: subnormal inputs
    case 4: return half ? 200.0 : 1e12;
    default: return 1.0;
  }
}

/// Uniform values in [-scale, scale) with some exact powers of two, rounded to the tensor's dtype.
inline void fill(Tensor& t, SplitMix& rng, double scale) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = (2 * rng.uniform() - 1) * scale;
    if (rng.below(16) == 0) v = std::ldexp(rng.below(2) ? 1.0 : -1.0, static_cast<int>(rng.below(5)) - 2) * scale;
    t.set(i, v);
  }
}

inline void fill_weight(Tensor& w, SplitMix& rng, int32_t mode) {
  for (int64_t i = 0; i < w.numel(); ++i) {
    double v = 1.0;
    switch (mode) {
      case 0: v = 0.5 + rng.uniform(); break;
      case 1: v = 1.0; break;
      case 2: v = 4 * rng.uniform() - 2; break;
      default: v = rng.below(3) == 0 ? 0.0 : 0.5 + rng.uniform(); break;
    }
    w.set(i, v);
  }
}

}  // namespace lockstep::fuzz::norm_data
