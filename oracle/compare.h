#pragma once
/// Comparison of reference and device outputs in a fixed order (ggml test-backend-ops / Eigen style):
///   1. inputs unmodified by the device run (checked by the runner)
///   2. NaN / Inf agreement, sign included (a NaN in a reference output is itself a failure: decision 3)
///   3. tolerance: |dev - ref| <= atol + rtol * |ref| for every element
///   4. (bf16/f16 outputs, oracle/op.h check_output_rounding) the output equals the same kernel's
///      f32-output run rounded to nearest-even, bit for bit: exact, so a wrongly rounding cast (one ulp,
///      inside check 3's rtol) fails
/// The worst element (largest excess over its tolerance) is reported with its index and both values;
/// never a pass percentage.
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lockstep::oracle {

struct Tolerance {
  double atol = 0;
  double rtol = 0;
  bool exact() const { return atol == 0 && rtol == 0; }
};

/// Tolerance for a floating output of `dtype` produced by an fp32-accumulating kernel from reductions
/// of length `reduction_len`, against a double reference rounded once to `dtype`:
///   rtol: one ulp of the output type (f32 2^-17 to absorb fp32 accumulation order, bf16 2^-7, f16 2^-10)
///   atol: fp32 accumulation error, 2^-20 * sqrt(reduction_len) (covers values near zero)
/// Integer dtypes compare exactly.
Tolerance tolerance_for(DType dtype, int64_t reduction_len);

/// What the attention tolerance depends on (the reference measures the magnitudes:
/// reference::RpaResult::logit_bound / value_bound).
struct AttentionMagnitudes {
  int64_t kv_len = 1;       ///< longest key sequence (reduction length of P*V and of the softmax sum)
  int64_t head_dim = 1;     ///< D (reduction length of each score)
  double logit_bound = 0;   ///< M = max |sm_scale| * sum_d |q_d k_d| over allowed (row, key)
  double value_bound = 0;   ///< Vmax = max |v| over the keys read
  double soft_cap = 0;      ///< 0 = none
};

/// Tolerance of an attention output (online softmax in fp32, output in `dtype`):
///   tolerance_for(dtype, kv_len) with its atol scaled by max(1, Vmax) (the accumulation error of P*V
///   scales with the values; tolerance_for assumes |v| <= 1), plus the softmax-argument term below.
///
/// Softmax-argument term. The kernel computes each score s_p = sm_scale * q.k_p in fp32 and exponentiates
/// s_p - m. With u = 2^-24 (fp32 unit roundoff), the fp32 argument differs from the exact one by at most
///   E = u * ( sqrt(D) * M     dot product of D terms: each partial sum and product is <= M/|sm_scale|,
///                             their rounding errors add like a random walk (as tolerance_for's atol assumes)
///           + M               rounding of the product with sm_scale (|s| <= M)
///           + 2 M             rounding of s_p - m (|s_p - m| <= 2M)
///           + 3 cap           soft cap c*tanh(s/c): division, tanhf and product, each <= 1 ulp of c; the
///                             cap's slope is <= 1, so it does not amplify the error it is given
///           + 2 )             expf's own error (<= 2 ulp of the weight, the same as a 2u argument error)
/// Perturbing every argument by at most E multiplies each softmax weight w_p by e^e_p / sum_q w_q e^e_q,
/// a factor in [e^-2E, e^2E]; so sum_p |w~_p - w_p| <= e^(2E) - 1 and the output moves by at most
///   (e^(2E) - 1) * Vmax,
/// which is added to atol. The term grows like M * 2^-24: ~1e-6 for |logits| ~ 10, and the dominant
/// error for |logits| ~ 1e3 (where an fp32 evaluation of the spec's own formula is off by ~4e-5 too).
/// Measured slack (BENCHMARKS.md): f32 outputs use a few percent of it (the sqrt(D) * M term bounds
/// partial sums by sum |q_d k_d|, which random data rarely approaches); bf16/f16 are dominated by rtol.
Tolerance attention_tolerance(DType dtype, const AttentionMagnitudes& m);

struct TensorDiff {
  std::string name;
  bool passed = true;
  std::string failure;      ///< first failing check, human-readable ("" when passed)
  int64_t mismatches = 0;   ///< elements failing the check that failed
  int64_t worst_index = -1; ///< flat index of the worst element (-1: none)
  std::vector<int64_t> worst_coord;
  double worst_ref = 0, worst_dev = 0;
  double max_abs = 0, max_rel = 0, nmse = 0;
  Tolerance tol;
};

/// Compares one output tensor. Shapes/dtypes must match (else a failed diff saying so).
TensorDiff compare_tensor(const std::string& name, const Tensor& ref, const Tensor& dev, const Tolerance& tol);

}  // namespace lockstep::oracle
