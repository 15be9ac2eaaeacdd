#pragma once
/// Reference `gelu_tanh_mul` (spec: shared/spec/gemma4-kvcache-speculative.md §2.2, S1 `gemma_gelu_tanh_mul`;
/// torch `gelu(approximate="tanh")` = HF `gelu_pytorch_tanh`):
///   out[m, n] = 0.5 g (1 + tanh(0.7978845608028654 (g + 0.044715 g^3))) * ple[m, n],  g = gate[m, n]
/// in double from the stored inputs, rounded once to gate's dtype. Also reports `abs_error`, the absolute
/// part of the bound on an fp32 evaluation's error (gelu_tanh_mul_fp32_error below), from which the oracle
/// derives the tolerance.
#include "core/activation/gelu_tanh_mul.h"

namespace lockstep::reference {

GeluTanhMulOutputs gelu_tanh_mul(const GeluTanhMulCase& c);

/// gelu_tanh(g) in double (the spec's formula, constants as written).
double gelu_tanh(double g);

/// Bound on |fp32 result - exact| of one element, split as `abs + rel * |exact|` (rel is the same for every
/// element: gelu_tanh_mul_fp32_rel). An fp32 evaluation (any association of the products, with or without
/// fma contraction; constants rounded to fp32) makes:
///   u~ = u (1 + d_u) + e_u      |d_u| <= 7 u32 / (1 - 7 u32)   g*g, *g, *0.044715f, +g (same signs: no
///                                                                cancellation), *0.79788f, and the two
///                                                                constants' own fp32 rounding; u32 = 2^-24
///                               |e_u| <= 2^-146                  gradual underflow of g^2, g^3 and the products
///   t~ = tanhf(u~)              |t~ - tanh(u~)| <= 2.5 ulp(t)    CUDA Programming Guide's table (tanhf: 2 ulp
///                                                                from the correctly rounded result, + 0.5 ulp
///                                                                of that rounding); glibc's tanhf within it;
///                                                                2.5 ulp(t) <= 2.5 * 2^-23 |t| + 2^-147
///   |tanh(u~) - tanh(u)| <= sech^2(u) e^{2 |du|} |du|            mean value theorem, |du| = |u d_u| + e_u,
///                                                                sech^2(xi) <= sech^2(u) e^{2|du|}
///   out~ = 0.5 g (1 + t~) ple (1 + d)^4 + e                      1 + t~, *g, *(1+t~), *ple; |e| <= 2^-148 (1 + |ple|)
/// so |out~ - out| <= 0.5 |g ple| |t~ - t| (1 + g4) + g4 |out| + |e|, g4 = 4 u32 / (1 - 4 u32).
struct GeluFp32Error {
  double abs = 0;
};
GeluFp32Error gelu_tanh_mul_fp32_error(double g, double ple);
/// The relative part of that bound (g4).
double gelu_tanh_mul_fp32_rel();

}  // namespace lockstep::reference
