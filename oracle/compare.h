#pragma once
/// Comparison of reference and device outputs in a fixed order (ggml test-backend-ops / Eigen style):
///   1. inputs unmodified by the device run (checked by the runner)
///   2. NaN / Inf agreement, sign included (a NaN in a reference output is itself a failure: decision 3)
///   3. tolerance: |dev - ref| <= atol + rtol * |ref| for every element
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
