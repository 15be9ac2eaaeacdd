#pragma once
/// Single-source body of the per-head q/k/v RMSNorm kernel (`qkv_rmsnorm`, core/norm/qkv_rmsnorm.h).
///
/// Grid: one block per token. The block walks the token's heads in order (q heads, then k, then v; k and v
/// absent on a KV-shared layer); per head a block-stride fp32 partial sum of squares, block_sum
/// (device/norm/norm_block.h), rsqrt, then the scaled store. T: input storage, O: output storage (T, or
/// float for the oracle's f32-output run). Shared memory: nthr floats.
#include <cstdint>

#include "core/dtype.h"
#include "device/core/fault.h"
#include "device/core/portability.h"
#include "device/norm/norm_block.h"

namespace lockstep::device {

enum QkvNormFault : int {
  kQkvNormFaultNone = 0,
  kQkvNormFaultVWeighted = 1,  ///< v normalised with k's weight (v_norm has no weight)
};

inline constexpr Fault kQkvNormFaults[] = {
    {"qkv_v_norm_weighted", kQkvNormFaultVWeighted,
     "v_norm applies k_norm's weight (Gemma-4's v_norm is RMSNorm(head_dim) with no weight)"},
};

template <class T, class O>
struct QkvNormParams {
  const T* q;         // (T, nq*hd)
  const T* k;         // (T, nkv*hd) or null (KV-shared)
  const T* v;         // (T, nkv*hd) or null
  const T* q_weight;  // (hd)
  const T* k_weight;  // (hd) or null
  O* q_out;
  O* k_out;  // or null
  O* v_out;  // or null
  int64_t tokens, nq, nkv, hd;
  float eps;
  int32_t fault;

  template <class V>
  void buffers(V& b) {
    const int64_t nqe = tokens * nq * hd, nkve = k ? tokens * nkv * hd : 0;
    b.in(q, nqe);
    b.in(k, nkve);
    b.in(v, nkve);
    b.in(q_weight, hd);
    b.in(k_weight, k_weight ? hd : 0);
    b.out(q_out, nqe);
    b.out(k_out, nkve);
    b.out(v_out, nkve);
  }
};

/// One head of width hd: in[0, hd) -> out[0, hd), times weight (or 1 when null).
template <class T, class O>
LS_HD inline void qkv_norm_head(const T* in, const T* weight, O* out, int64_t hd, float eps, const BlockCtx& ctx,
                                float* red) {
  float part = 0.0f;
  LS_FOR_THREADS(ctx, d, hd) {
    const float x = load_f32(in[d]);
    part += x * x;
  }
  const float rr = rrms_from_sum(block_sum(part, red, ctx), hd, eps);
  LS_FOR_THREADS(ctx, d, hd) {
    const float y = load_f32(in[d]) * rr;
    out[d] = store_as<O>(weight ? y * load_f32(weight[d]) : y);
  }
}

template <class T, class O>
LS_HD inline void kernel_block(const QkvNormParams<T, O>& P, const BlockCtx& ctx, int64_t t, unsigned char* smem) {
  float* red = reinterpret_cast<float*>(smem);
  const int64_t hd = P.hd;
  for (int64_t h = 0; h < P.nq; ++h) {
    const int64_t off = (t * P.nq + h) * hd;
    qkv_norm_head(P.q + off, P.q_weight, P.q_out + off, hd, P.eps, ctx, red);
  }
  if (!P.k) return;  // KV-shared layer: q only
  for (int64_t h = 0; h < P.nkv; ++h) {
    const int64_t off = (t * P.nkv + h) * hd;
    qkv_norm_head(P.k + off, P.k_weight, P.k_out + off, hd, P.eps, ctx, red);
    const T* vw = P.fault == kQkvNormFaultVWeighted ? P.k_weight : static_cast<const T*>(nullptr);
    qkv_norm_head(P.v + off, vw, P.v_out + off, hd, P.eps, ctx, red);
  }
}

}  // namespace lockstep::device
