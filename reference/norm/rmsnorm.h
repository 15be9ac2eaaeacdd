#pragma once
/// Reference `rmsnorm` (spec gemma4 §2.1–§2.3): the formulas in double, each output rounded once to its
/// dtype (Tensor::set, round-to-nearest-even). Per row of width H:
///   rrms(v)  = 1 / sqrt(sum(v^2) / H + eps)                       (w, never 1 + w)
///   rmsnorm                      out = x*rrms(x)*w  (w = 1 when with_scale = 0)
///   add_rmsnorm                  s = x + r; out = s*rrms(s)*w from the UNROUNDED sum; residual_out = s
///   rmsnorm_add                  out = x*rrms(x)*w + r
///   rmsnorm_residual_scalar      out = (x*rrms(x)*w + r) * scalar
///   dual_rmsnorm_residual_scalar n1 = x*rrms_eps(x)*w, n2 = x2*rrms_eps2(x2)*w2, c = n1 + n2 (never rounded);
///                                out = (c*rrms_eps3(c)*w3 + r) * scalar
///   post_attn_triple_rmsnorm     par = x*rrms(x)*w + r (not rounded before reuse); base = par*rrms(par)
///                                (same eps); out = par, router_in = base*w2, dense_ff_in = base*w3,
///                                moe_in = base*w4, all bf16.
#include "core/norm/rmsnorm.h"

namespace lockstep::reference {

RmsNormOutputs rmsnorm(const RmsNormCase& c);

/// The same formulas with every output rounded once to `out_dtype` instead (f32: what the device's
/// f32-output run is compared with, oracle/norm/rmsnorm.h rmsnorm_f32_check).
RmsNormOutputs rmsnorm_in(const RmsNormCase& c, DType out_dtype);

/// rrms of one row in double: 1 / sqrt(mean(v^2) + eps).
double rrms(const double* v, int64_t n, double eps);

}  // namespace lockstep::reference
