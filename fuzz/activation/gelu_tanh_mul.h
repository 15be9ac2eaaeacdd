#pragma once
/// Generator and batching rule of `gelu_tanh_mul`.
///
/// A case is a small shrinkable spec (dtype, rows, columns, value modes, seed) materialised
/// deterministically. It reaches f32, bf16 and f16; N = 1, odd and even widths up to 1,024 (Gemma-4's
/// ple_dim is 256); 0 (an empty batch) to 64 rows; gate values moderate ([-4, 4], where the tanh form and the erf form differ
/// most), log-uniform over ~80 binades (tiny to huge), saturated negative (tanh = -1 in fp32), past the fp32
/// g^3 overflow (|g| > 6.98e12, bf16/f32), subnormal, ±0 and the hand points 0, ±1, ±3; ple moderate or
/// log-uniform. |out| stays far from the output type's overflow threshold (f16: below 2^15), so reference and
/// device never straddle it.
#include <rapidcheck.h>

#include "core/activation/gelu_tanh_mul.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

struct GeluSpec {
  DType dtype = DType::f32;
  int32_t rows = 1, cols = 1;
  int32_t gate_mode = 0;  ///< 0 uniform [-4,4], 1 log-uniform, 2 specials mix, 3 saturated negative, 4 huge
  int32_t ple_mode = 0;   ///< 0 uniform [-2,2], 1 log-uniform, 2 ones
  uint64_t seed = 0;
};

GeluTanhMulCase materialize(const GeluSpec& spec);
rc::Gen<GeluSpec> gen_gelu_spec();
rc::Gen<GeluTanhMulCase> gen_gelu_tanh_mul_case();

/// Per-row batching: row i of the batched output equals the output of row i alone.
BatchingRule<GeluTanhMulCase, GeluTanhMulOutputs> gelu_tanh_mul_batching_rule();

}  // namespace lockstep::fuzz
