#pragma once
/// Case and output types of `gelu_tanh_mul` (spec: shared/spec/gemma4-kvcache-speculative.md §2.2, S1
/// `gemma_gelu_tanh_mul`): the Gemma-4 PLE tail's fused activation
///   out = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) * ple,   sqrt(2/pi) = 0.7978845608028654
/// computed in fp32 from the loaded inputs, stored in gate's dtype.
///
/// Layouts (M rows, N columns; one program / block per row):
///   gate  (M, N) f32 | bf16 | f16
///   ple   (M, N) same dtype as gate (the per-layer input slice)
///   out   (M, N) gate's dtype
///
/// Decisions (documented in docs and the report): shapes must match exactly (S1 asserts; here an Error naming
/// both shapes); ple must have gate's dtype (both are activations of the model dtype in S3; a mixed pair is an
/// Error naming both dtypes); values must be finite (gelu(-inf) * ple = -inf * 0 = NaN in IEEE arithmetic, and
/// a NaN reference output is itself a failure for the oracle: the op's contract is finite inputs). Large |g|
/// is allowed: g^3 overflows fp32 for |g| > ~6.98e12, where the kernel's u = +-inf gives tanh = +-1, i.e.
/// out = g*ple for g > 0 and -0*ple for g < 0 — exactly the reference's values (tanh of the double u is +-1
/// there too), so both sides agree on the saturated semantics.
#include <cstdint>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

struct GeluTanhMulCase {
  int64_t data_seed = 0;  ///< informational: seed the tensor values were drawn from
  Tensor gate, ple;

  template <class V>
  void fields(V& v) {
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("gate", gate);
    v("ple", ple);
  }

  int64_t rows() const { return gate.rank() == 2 ? gate.dim(0) : 0; }
  int64_t cols() const { return gate.rank() == 2 ? gate.dim(1) : 0; }
};

struct GeluTanhMulOutputs {
  Tensor out;  ///< (M, N) gate's dtype
  /// Reference: the magnitudes the tolerance is derived from (oracle/activation/gelu_tanh_mul.h), max over
  /// elements of the absolute part of the fp32 error bound (tanh's error and the propagated error of its
  /// argument, times 0.5|g ple|, plus gradual underflow); 0 on the device.
  double abs_error = 0;

  template <class V>
  void fields(V& v) {
    v("out", out, Rule{Rule::tolerance});
    v("abs_error", abs_error, Rule{Rule::info});
  }
};

/// Validates ranks, dtypes, matching shapes and finite values; throws Error naming the field.
void validate(const GeluTanhMulCase& c);

/// The fp32 constants of the formula (S1 writes them as Python floats; a kernel rounds them to fp32).
inline constexpr double kGeluSqrt2OverPi = 0.7978845608028654;
inline constexpr double kGeluCubic = 0.044715;

}  // namespace lockstep
