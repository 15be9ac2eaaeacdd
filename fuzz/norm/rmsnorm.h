#pragma once
/// Generator for `rmsnorm` cases and its per-row batching rule.
///
/// A case is a small shrinkable spec materialised deterministically from its data seed. rmsnorm reaches
/// every variant and dtype, H = 1, odd and even widths up to 4,096 (M * H kept small), M = 0, eps from 1e-6
/// to 1, zero rows (rrms = 1/sqrt(eps)), tiny and big magnitudes (per dtype), residuals on other scales
/// than x (x + r not representable in bf16/f16: the add_rmsnorm rounding fault) and residuals cancelling the
/// normalised term, weights near one / exactly one / signed / with zeros, layer scalars 1, 0, -1, 0.5, -0.0
/// and random, the no-weight form.
#include <cstdint>

#include <rapidcheck.h>

#include "core/norm/rmsnorm.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

struct RmsNormSpec {
  RmsNormVariant variant = RmsNormVariant::rmsnorm;
  DType dtype = DType::f32;
  int32_t rows = 1, width = 1;
  int32_t with_scale = 1;
  double eps = 1e-6, eps2 = 1e-6, eps3 = 1e-6;
  int32_t magnitude = 0;  ///< x scale: 0 ~1, 1 ~1e-3, 2 ~1e3 (f16 ~50), 3 tiny, 4 big
  int32_t r_mode = 0;     ///< 0 same scale as x, 1 x*2^-5, 2 x*2^5, 3 cancels the normalised term
  int32_t w_mode = 0;     ///< 0 ones +- 0.5, 1 exactly ones, 2 signed in [-2, 2], 3 with zeros
  double scalar = 1.0;
  int32_t zero_rows = 0;  ///< 1: some rows all zero
  uint64_t data_seed = 0;
};

RmsNormCase materialize(const RmsNormSpec& spec);
rc::Gen<RmsNormSpec> gen_rmsnorm_spec();
rc::Gen<RmsNormCase> gen_rmsnorm_case();
/// Per row: slice i is row i with the same weights, scalar and eps.
BatchingRule<RmsNormCase, RmsNormOutputs> rmsnorm_batching_rule();

}  // namespace lockstep::fuzz
