#pragma once
/// Deterministic tensor filling: values are a pure function of (seed, stream). Used by the generators
/// (fuzz/) and by reference-side case construction (reference/kvcache/paged_attention.cpp).
#include <cstdint>

#include "core/tensor.h"

namespace lockstep {

/// splitmix64 stream.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t below(int64_t n) { return n <= 0 ? 0 : static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
};

/// Fills a floating tensor with uniform values in [-scale, scale), rounded to its dtype.
inline void fill_uniform(Tensor& t, uint64_t seed, double scale) {
  SplitMix rng{seed};
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, (2 * rng.uniform() - 1) * scale);
}

}  // namespace lockstep
