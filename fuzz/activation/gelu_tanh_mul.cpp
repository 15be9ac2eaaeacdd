#include "fuzz/activation/gelu_tanh_mul.h"

#include <algorithm>
#include <cmath>

#include "core/data.h"
#include "fuzz/core/pick.h"

namespace lockstep::fuzz {
namespace {

/// Largest |g| a mode draws for `dtype` (f16's range ends at 65504).
double huge_gate(DType dtype) { return dtype == DType::f16 ? 6.0e4 : 1.0e15; }

double log_uniform(SplitMix& rng, double lo_exp, double hi_exp) {
  const double e = lo_exp + (hi_exp - lo_exp) * rng.uniform();
  return (rng.below(2) ? -1.0 : 1.0) * std::exp2(e);
}

double gate_value(SplitMix& rng, int32_t mode, DType dtype) {
  const double min_exp = dtype == DType::f16 ? -24 : dtype == DType::bf16 ? -133 : -149;  // smallest subnormal
  switch (mode) {
    case 0: return 8 * rng.uniform() - 4;
    case 1: return log_uniform(rng, dtype == DType::f16 ? -24 : -40, dtype == DType::f16 ? 15.8 : 40);
    case 2: {
      switch (rng.below(9)) {
        case 0: return 0.0;
        case 1: return -0.0;
        case 2: return rng.below(2) ? 1.0 : -1.0;
        case 3: return rng.below(2) ? 3.0 : -3.0;
        case 4: return log_uniform(rng, min_exp, min_exp + 8);  // subnormal (or tiny) gates
        case 5: return (rng.below(2) ? -1.0 : 1.0) * huge_gate(dtype) * (0.5 + 0.5 * rng.uniform());
        case 6: return -(10 + 20 * rng.uniform());  // saturated: tanh = -1 in fp32
        default: return 8 * rng.uniform() - 4;
      }
    }
    case 3: return -(4 + 60 * rng.uniform());
    default: {  // past the fp32 g^3 overflow (bf16/f32), f16's largest values
      const double lo = dtype == DType::f16 ? 1.0e4 : 7.0e12;
      return (rng.below(2) ? -1.0 : 1.0) * (lo + (huge_gate(dtype) - lo) * rng.uniform());
    }
  }
}

double ple_value(SplitMix& rng, int32_t mode, DType dtype) {
  switch (mode) {
    case 0: return 4 * rng.uniform() - 2;
    case 1: return log_uniform(rng, dtype == DType::f16 ? -14 : -30, dtype == DType::f16 ? 0 : 30);
    default: return 1.0;
  }
}

}  // namespace

GeluTanhMulCase materialize(const GeluSpec& s) {
  GeluTanhMulCase c;
  c.data_seed = static_cast<int64_t>(s.seed);
  c.gate = Tensor(s.dtype, {s.rows, s.cols});  // (M, N)
  c.ple = Tensor(s.dtype, {s.rows, s.cols});   // (M, N)
  SplitMix rng{s.seed};
  // f16: keep |out| <= |g| |ple| below 2^15 (overflow threshold 65520); others: far below 2^128.
  const double out_cap = s.dtype == DType::f16 ? 32768.0 : 1.0e30;
  for (int64_t i = 0; i < c.gate.numel(); ++i) {
    c.gate.set(i, gate_value(rng, s.gate_mode, s.dtype));
    const double g = std::abs(c.gate.get(i));
    double p = ple_value(rng, s.ple_mode, s.dtype);
    if (g * std::abs(p) > out_cap) p = std::copysign(out_cap / std::max(g, 1.0), p);
    c.ple.set(i, p);
  }
  return c;
}

rc::Gen<GeluSpec> gen_gelu_spec() {
  return rc::gen::exec([] {
    GeluSpec s;
    s.dtype = pick({DType::f32, DType::bf16, DType::f16});
    switch (pick({0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3})) {
      case 0: s.rows = 1; break;
      case 1: s.rows = *rc::gen::inRange(2, 9); break;
      case 2: s.rows = *rc::gen::inRange(9, 65); break;
      default: s.rows = 0; break;  // an empty batch: the launch has no blocks
    }
    switch (pick({0, 1, 1, 2, 2, 3})) {
      case 0: s.cols = 1; break;
      case 1: s.cols = 2 * *rc::gen::inRange(0, 32) + 1; break;  // odd widths
      case 2: s.cols = *rc::gen::inRange(2, 257); break;
      default: s.cols = pick({256, 512, 1000, 1024}); break;
    }
    s.gate_mode = pick({0, 0, 0, 1, 2, 2, 3, 4});
    s.ple_mode = pick({0, 0, 0, 1, 2});
    s.seed = *rc::gen::arbitrary<uint64_t>();
    return s;
  });
}

rc::Gen<GeluTanhMulCase> gen_gelu_tanh_mul_case() {
  return rc::gen::map(gen_gelu_spec(), [](const GeluSpec& s) { return materialize(s); });
}


BatchingRule<GeluTanhMulCase, GeluTanhMulOutputs> gelu_tanh_mul_batching_rule() {
  BatchingRule<GeluTanhMulCase, GeluTanhMulOutputs> rule;
  rule.slices = [](const GeluTanhMulCase& c) { return c.rows(); };
  rule.slice_case = [](const GeluTanhMulCase& c, int64_t i) {
    GeluTanhMulCase s;
    s.data_seed = c.data_seed;
    s.gate = leading_row(c.gate, i);
    s.ple = leading_row(c.ple, i);
    return s;
  };
  rule.slice_outputs = [](const GeluTanhMulOutputs& o, const GeluTanhMulCase&, int64_t i) {
    GeluTanhMulOutputs s;
    s.out = leading_row(o.out, i);
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
