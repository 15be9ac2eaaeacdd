#pragma once
/// Single-source body of the fused RMSNorm family kernel (`rmsnorm`, core/norm/rmsnorm.h; compiled by nvcc
/// and by the host compiler).
///
/// Grid: one block per row. Storage types: T of the inputs, O of the outputs (T; bf16 for the triple; float
/// for the oracle's f32-output run — the arithmetic is identical up to the final stores). Everything is
/// loaded to fp32 and computed in fp32; each reduction is a block-stride partial sum of squares per thread
/// then block_sum (device/norm/norm_block.h) and rsqrt. Values needed after a reduction (the sum s of
/// add_rmsnorm, c of the dual, par of the triple) are recomputed from the inputs with the same fp32
/// operations (same bits), as a register-resident row would hold them. Shared memory: nthr floats.
#include <cstdint>

#include "core/dtype.h"
#include "core/kernel_enums.h"
#include "device/core/fault.h"
#include "device/core/portability.h"
#include "device/norm/norm_block.h"

namespace lockstep::device {

enum RmsNormFault : int {
  kRmsNormFaultNone = 0,
  kRmsNormFaultOnePlusWeight = 1,   ///< the first norm's weight applied as (1 + w) (Gemma-2/3)
  kRmsNormFaultFromRoundedSum = 2,  ///< add_rmsnorm normalises the dtype-rounded sum x + r
  kRmsNormFaultParRounded = 3,      ///< triple: par rounded to bf16 before the shared norm
  kRmsNormFaultBf16Accumulate = 4,  ///< triple: each sum of squares accumulated serially in bf16
};

inline constexpr Fault kRmsNormFaults[] = {
    {"rmsnorm_one_plus_weight", kRmsNormFaultOnePlusWeight,
     "Gemma-2/3's x*rrms*(1+w) instead of Gemma-4's x*rrms*w (the first norm's weight, every weighted variant)"},
    {"rmsnorm_add_from_rounded_sum", kRmsNormFaultFromRoundedSum,
     "add_rmsnorm normalises x + r rounded to x.dtype (what residual_out holds; the unfused add-then-norm path) "
     "instead of the unrounded fp32 sum; moves a bf16/f16 output by at most about one ulp, so the row's f32 "
     "check (the f32-output run against the reference at f32 precision) is what sees it"},
    {"triple_norm_par_rounded", kRmsNormFaultParRounded,
     "post_attn_triple_rmsnorm rounds par to bf16 before the shared norm (the unfused fallback); seen by the "
     "row's f32 check"},
    {"fused_norm_accumulates_in_bf16", kRmsNormFaultBf16Accumulate,
     "post_attn_triple_rmsnorm accumulates both sums of squares serially in a bf16 accumulator (decoder_stack's "
     "drift fault on the fused triple-norm path; issue 11)"},
};

template <class T, class O>
struct RmsNormParams {
  const T* x;       // (M, H)
  const T* r;       // (M, H) or null
  const T* x2;      // (M, H) or null
  const T* w;       // (H) or null (no weight)
  const T* w2;      // (H) or null
  const T* w3;      // (H) or null
  const T* w4;      // (H) or null
  const T* scalar;  // (1) or null
  O* out;           // (M, H)
  O* residual_out;  // (M, H) add_rmsnorm, else null
  O* router_in;     // (M, H) triple, else null
  O* dense_ff_in;
  O* moe_in;
  int64_t M, H;
  float eps, eps2, eps3;
  int32_t variant;  // RmsNormVariant
  int32_t fault;

  template <class V>
  void buffers(V& v) {
    const int64_t n = M * H;
    v.in(x, n);
    v.in(r, r ? n : 0);
    v.in(x2, x2 ? n : 0);
    v.in(w, w ? H : 0);
    v.in(w2, w2 ? H : 0);
    v.in(w3, w3 ? H : 0);
    v.in(w4, w4 ? H : 0);
    v.in(scalar, scalar ? 1 : 0);
    v.out(out, n);
    v.out(residual_out, residual_out ? n : 0);
    v.out(router_in, router_in ? n : 0);
    v.out(dense_ff_in, dense_ff_in ? n : 0);
    v.out(moe_in, moe_in ? n : 0);
  }
};

template <class T>
LS_HD inline float ld(const T* p, int64_t i) {
  return load_f32(p[i]);
}

/// Fault kRmsNormFaultBf16Accumulate: the sum of squares of `f(i)` accumulated serially in bf16 (every thread
/// the whole row, so no block reduction).
template <class F>
LS_HD inline float row_sum_sq_bf16(int64_t H, F f) {
  float s = 0.0f;
  for (int64_t i = 0; i < H; ++i) {
    const float v = f(i);
    s = load_f32(store_as<bf16>(s + v * v));
  }
  return s;
}

/// Block-wide fp32 sum of squares of `f(i)` for i in [0, H).
template <class F>
LS_HD inline float row_sum_sq(const BlockCtx& ctx, int64_t H, float* red, F f) {
  float part = 0.0f;
  LS_FOR_THREADS(ctx, i, H) {
    const float v = f(i);
    part += v * v;
  }
  return block_sum(part, red, ctx);
}

template <class T, class O>
LS_HD inline void rmsnorm_block(const RmsNormParams<T, O>& P, const BlockCtx& ctx, int64_t m, unsigned char* smem) {
  float* red = reinterpret_cast<float*>(smem);
  const int64_t H = P.H;
  const T* x = P.x + m * H;
  const T* r = P.r ? P.r + m * H : nullptr;
  const int64_t o0 = m * H;
  const bool one_plus = P.fault == kRmsNormFaultOnePlusWeight;
  auto w1 = [&](int64_t i) -> float {
    if (!P.w) return 1.0f;
    const float w = ld(P.w, i);
    return one_plus ? 1.0f + w : w;
  };
  const float sc = P.scalar ? ld(P.scalar, 0) : 1.0f;
  auto xi = [&](int64_t i) { return ld(x, i); };
  switch (P.variant) {
    case kernel_id(RmsNormVariant::rmsnorm):
    case kernel_id(RmsNormVariant::rmsnorm_add):
    case kernel_id(RmsNormVariant::rmsnorm_residual_scalar): {
      const float rr = rrms_from_sum(row_sum_sq(ctx, H, red, xi), H, P.eps);
      LS_FOR_THREADS(ctx, i, H) {
        float y = xi(i) * rr * w1(i);
        if (P.variant != kernel_id(RmsNormVariant::rmsnorm)) y = y + ld(r, i);
        if (P.variant == kernel_id(RmsNormVariant::rmsnorm_residual_scalar)) y = y * sc;
        P.out[o0 + i] = store_as<O>(y);
      }
      return;
    }
    case kernel_id(RmsNormVariant::add_rmsnorm): {
      const bool rounded = P.fault == kRmsNormFaultFromRoundedSum;
      // The fault normalises the sum rounded to the input dtype (what residual_out holds).
      auto s = [&](int64_t i) {
        const float v = xi(i) + ld(r, i);
        return rounded ? load_f32(store_as<T>(v)) : v;
      };
      LS_FOR_THREADS(ctx, i, H) { P.residual_out[o0 + i] = store_as<O>(xi(i) + ld(r, i)); }
      const float rr = rrms_from_sum(row_sum_sq(ctx, H, red, s), H, P.eps);
      LS_FOR_THREADS(ctx, i, H) { P.out[o0 + i] = store_as<O>(s(i) * rr * w1(i)); }
      return;
    }
    case kernel_id(RmsNormVariant::dual_rmsnorm_residual_scalar): {
      const T* x2 = P.x2 + m * H;
      auto x2i = [&](int64_t i) { return ld(x2, i); };
      const float rr1 = rrms_from_sum(row_sum_sq(ctx, H, red, xi), H, P.eps);
      const float rr2 = rrms_from_sum(row_sum_sq(ctx, H, red, x2i), H, P.eps2);
      auto c = [&](int64_t i) { return xi(i) * rr1 * w1(i) + x2i(i) * rr2 * ld(P.w2, i); };  // never rounded
      const float rr3 = rrms_from_sum(row_sum_sq(ctx, H, red, c), H, P.eps3);
      LS_FOR_THREADS(ctx, i, H) { P.out[o0 + i] = store_as<O>((c(i) * rr3 * ld(P.w3, i) + ld(r, i)) * sc); }
      return;
    }
    case kernel_id(RmsNormVariant::post_attn_triple_rmsnorm): {
      const bool bf16_acc = P.fault == kRmsNormFaultBf16Accumulate;
      const float rra = rrms_from_sum(bf16_acc ? row_sum_sq_bf16(H, xi) : row_sum_sq(ctx, H, red, xi), H, P.eps);
      const bool rounded = P.fault == kRmsNormFaultParRounded;
      auto par = [&](int64_t i) {
        const float v = xi(i) * rra * w1(i) + ld(r, i);  // fp32, not rounded before reuse
        return rounded ? load_f32(store_as<bf16>(v)) : v;
      };
      const float rrp = rrms_from_sum(bf16_acc ? row_sum_sq_bf16(H, par) : row_sum_sq(ctx, H, red, par), H, P.eps);
      LS_FOR_THREADS(ctx, i, H) {
        const float p = xi(i) * rra * w1(i) + ld(r, i);
        const float base = par(i) * rrp;
        P.out[o0 + i] = store_as<O>(p);
        P.router_in[o0 + i] = store_as<O>(base * ld(P.w2, i));
        P.dense_ff_in[o0 + i] = store_as<O>(base * ld(P.w3, i));
        P.moe_in[o0 + i] = store_as<O>(base * ld(P.w4, i));
      }
      return;
    }
    default: return;
  }
}

template <class T, class O>
LS_HD inline void kernel_block(const RmsNormParams<T, O>& P, const BlockCtx& ctx, int64_t block, unsigned char* smem) {
  rmsnorm_block(P, ctx, block, smem);
}

}  // namespace lockstep::device
