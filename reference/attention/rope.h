#pragma once
/// Reference `rope` (core/attention/rope.h states the upstream semantics): in double from the stored inputs,
///   inv_freq[i] = theta^(-2i / head_dim) for i < rope_rotated_pairs(c), else 0
///   a = position * inv_freq[i],  out[i] = x[i] cos a - x[i+h] sin a,  out[i+h] = x[i+h] cos a + x[i] sin a
/// rounded once to the case dtype; the untouched dims are copied. Also reports `abs_error`, the largest bound
/// on the device's fp32 error (rope_fp32_error) over the case's elements, from which the oracle derives the
/// tolerance.
#include "core/attention/rope.h"

namespace lockstep::reference {

RopeOutputs rope(const RopeCase& c);

/// Relative error bound of the device's fp32 angle fl(float(pos) * inv_f[i]) against the exact
/// pos * theta^(-2i/hd) from the fp32 operands HF's fp32 formula uses: theta_f = RN_f32(theta),
/// e_f = RN_f32(2i / hd); device/attention/rope.cpp takes the pow and the reciprocal in double, HF itself
/// (`1.0 / (base ** (arange(0, dim, 2).float() / dim))`) both in fp32 - the bound covers either:
///   theta_f^-e_f = theta^-e (1 + d),  |d| <= expm1(e |ln theta| 2^-24 + e (1 + 2^-24) 2^-24 / (1 - 2^-24))
///                                      (exponent rounding: |e_f - e| <= e 2^-24; theta_f = theta (1 + 2^-24 x))
///   inv_f = theta_f^-e_f (1 + d2), |d2| <= (1 + 4 2^-23)(1 + 2^-24) - 1 (an fp32 pow within 4 ulp - CUDA's
///                                      documented powf bound - then the fp32 reciprocal's rounding; session 20:
///                                      the double-pow bound 2^-24 + 2^-50 failed HF's own fp32 formula)
///   a_f = pos inv_f (1 + d3), |d3| <= 2^-24 (float(pos) exact: pos < 2^24)
/// so |a_f - a| <= |a| ((1 + |d|)(1 + |d2|)(1 + |d3|) - 1). For i = 0 the angle is exact (inv = 1).
double rope_angle_rel_error(const RopeCase& c, int64_t i);

/// Bound on |fp32 output - exact| for one rotated pair (x, y) at angle a (exact) with angle error da:
///   rotating by a + da instead of a moves the pair by <= |da| sqrt(x^2 + y^2);
///   sinf/cosf: <= 2 ulp from the correctly rounded result (CUDA Programming Guide's table, full range; glibc
///   within it), so <= 2.5 ulp <= 2.5 * 2^-23 from the exact value (|value| <= 1);
///   x c - y s in fp32 (two products and a sum, fma or not): <= (|x| + |y|) 2^-23 (1 + 2^-24).
/// i.e. E = |da| r + (|x| + |y|) (2.5 * 2^-23 + 2^-23 (1 + 2^-24)). Untouched dims are copied: 0.
/// For a bf16/f16 case (unit roundoff u of the dtype) E also covers HF's own evaluation in that dtype
/// (`apply_rotary_pos_emb`: cos/sin cast to x.dtype, then q*cos + rotate_half(q)*sin in x.dtype): cos and sin
/// rounded (u each), both products rounded (u each), the sum's rounding being the stored output's: + (|x| + |y|)
/// (2u + u^2). (Session 20: the fp32-then-one-rounding bound failed HF's bf16 evaluation by ~1 ulp.)
double rope_pair_error(double x, double y, double da, DType dtype = DType::f32);

}  // namespace lockstep::reference
