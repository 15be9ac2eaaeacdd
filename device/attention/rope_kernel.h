#pragma once
/// Single-source body of the `rope` kernel (compiled by nvcc and by the host compiler).
///
/// Grid: one block per token. Threads stride over the token's (num_q_heads + num_kv_heads) * head_dim/2
/// (head, pair) items: pair i < rotated_pairs is rotated with dim i + head_dim/2 (neox / rotate_half pairing)
/// by the fp32 angle float(position) * inv_freq[i] (inv_freq: the fp32 table the host builds, as a model's
/// inv_freq buffer), cosf/sinf in fp32, the rotation in fp32, one rounding to the output type; the other
/// pairs (proportional rope's zero frequencies) are copied. Storage T (float / bf16 / f16), output O (T, or
/// float for the oracle's exact rounding check).
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum RopeFault : int {
  kRopeFaultNone = 0,
  kRopeFaultFullRotaryOnFullLayers = 1,  ///< proportional rope rotates every pair (partial_rotary_factor ignored)
};

inline constexpr Fault kRopeFaults[] = {
    {"rope_full_rotary_on_full_layers", kRopeFaultFullRotaryOnFullLayers,
     "full-attention (proportional) layers rotate all head_dim/2 pairs with theta^(-2i/head_dim): "
     "partial_rotary_factor ignored, the zero-frequency dims get rotated"},
};

template <class T, class O = T>
struct RopeParams {
  const int64_t* positions;  // (T)
  const float* inv_freq;     // (head_dim / 2) fp32 theta^(-2i/head_dim) for every pair
  const T* q;                // (T, nq, hd)
  const T* k;                // (T, nkv, hd)
  O* q_out;                  // (T, nq, hd)
  O* k_out;                  // (T, nkv, hd)
  int64_t num_tokens;
  int64_t num_q_heads, num_kv_heads, head_dim;
  int64_t rotated_pairs;     // rope_rotated_pairs(case)
  int32_t fault;

  template <class V>
  void buffers(V& v) {
    v.in(positions, num_tokens);
    v.in(inv_freq, head_dim / 2);
    v.in(q, num_tokens * num_q_heads * head_dim);
    v.in(k, num_tokens * num_kv_heads * head_dim);
    v.out(q_out, num_tokens * num_q_heads * head_dim);
    v.out(k_out, num_tokens * num_kv_heads * head_dim);
  }
};

template <class T, class O>
LS_HD inline void kernel_block(const RopeParams<T, O>& P, const BlockCtx& ctx, int64_t token, unsigned char*) {
  const int64_t h = P.head_dim / 2;
  const int64_t rotated = P.fault == kRopeFaultFullRotaryOnFullLayers ? h : P.rotated_pairs;
  const float pos = static_cast<float>(P.positions[token]);  // exact: positions < 2^24
  const int64_t items = (P.num_q_heads + P.num_kv_heads) * h;
  LS_FOR_THREADS(ctx, idx, items) {
    const int64_t head = idx / h, i = idx % h;
    const bool is_q = head < P.num_q_heads;
    const int64_t row = is_q ? token * P.num_q_heads + head : token * P.num_kv_heads + (head - P.num_q_heads);
    const T* x = (is_q ? P.q : P.k) + row * P.head_dim;
    O* out = (is_q ? P.q_out : P.k_out) + row * P.head_dim;
    const float a = load_f32(x[i]), b = load_f32(x[i + h]);
    if (i >= rotated) {  // zero frequency: cos 1, sin 0
      out[i] = store_as<O>(a);
      out[i + h] = store_as<O>(b);
      continue;
    }
    const float ang = pos * P.inv_freq[i];
    const float c = cosf(ang), s = sinf(ang);
    out[i] = store_as<O>(a * c - b * s);
    out[i + h] = store_as<O>(b * c + a * s);
  }
}

}  // namespace lockstep::device
