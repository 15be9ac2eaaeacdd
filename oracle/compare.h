#pragma once
/// Comparison of reference and device outputs in a fixed order (ggml test-backend-ops / Eigen style):
///   1. inputs unmodified by the device run (checked by the runner)
///   2. NaN / Inf agreement, sign included (a NaN in a reference output is itself a failure: decision 3,
///      unless the tolerance says NaN equals NaN in the same position: decision 7)
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
  /// NaN on both sides in the same position agrees (routing, decision 7: its NaN weights are specified
  /// outputs); otherwise any NaN fails (decision 3).
  bool nan_equal = false;
  bool exact() const { return atol == 0 && rtol == 0; }
};

/// Tolerance for a floating output of `dtype` produced by an fp32-accumulating kernel from reductions
/// of length `reduction_len`, against a double reference rounded once to `dtype`:
///   rtol: one ulp of the output type (f32 2^-17 to absorb fp32 accumulation order, bf16 2^-7, f16 2^-10)
///   atol: fp32 accumulation error, 2^-20 * sqrt(reduction_len) (covers values near zero)
/// Integer dtypes compare exactly.
Tolerance tolerance_for(DType dtype, int64_t reduction_len);

/// What the attention tolerance depends on (the reference measures the magnitudes:
/// RpaOutputs::softmax_error / value_bound of the reference).
struct AttentionMagnitudes {
  int64_t kv_len = 1;          ///< longest key sequence (reduction length of P*V and of the softmax sum)
  double softmax_error = 0;    ///< bound on the output error from fp32 softmax arguments (below)
  double value_bound = 0;      ///< Vmax = max |v| over the keys read
};

/// Tolerance of an attention output (online softmax in fp32, output in `dtype`):
///   tolerance_for(dtype, kv_len) with its atol scaled by max(1, Vmax) (the accumulation error of P*V
///   scales with the values; tolerance_for assumes |v| <= 1), plus the softmax-argument term, added to atol.
///
/// Softmax-argument term. The kernel exponentiates fp32 arguments t_p - m. For every (row, allowed key)
/// the reference bounds the argument's error e_p in double (core/attention/softmax_error.h: the dot
/// product, sm_scale's rounding and product, the soft cap with its slope at the score — a saturated cap
/// passes on almost none of the pre-cap error — and the subtraction; the maximum's own error cancels by
/// shift invariance), adds 2u for expf (<= 2 ulp of the weight), and bounds the change of the row's
/// softmax weights by
///   sum_p |w~_p - w_p| <= 2A / (1 - A),  A = sum_p w_p expm1(e_p + 2u)   (softmax_weight_error)
/// so the row's output moves by at most that times max |v| of its keys. The largest such bound over all
/// rows is the term. Weighting by the exact weights w_p keeps keys far below the row maximum (weights
/// ~e^-30 and less) from inflating it; with every e_p = E it is ~2E Vmax, as for a uniform perturbation.
/// It grows like |logit| * 2^-24 * (sqrt(D) + 3): ~1e-6 for |logits| ~ 10, and the dominant error for
/// uncapped |logits| ~ 1e3 (where an fp32 evaluation of the spec's own formula is off by ~4e-5 too).
/// Measured slack: BENCHMARKS.md.
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
