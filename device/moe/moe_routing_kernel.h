#pragma once
/// Single-source body of the `moe_routing` kernel (spec §1.3, the fused Triton routing kernel of vLLM PR
/// #39083 / sglang fork PR #26120), compiled by nvcc and by the host compiler.
///
/// Grid: one block per token t. BLOCK_E = next_pow2(E); lanes e >= E are invalid. Shared memory:
///   keys i64 (BLOCK_E) | r f32 (K) | sum f32 (1) [| fault scratch f32 (2)]
/// Phases (block-stride loops):
///   0. key per lane: l = float(gating[t, e]) (bf16/f16 widened exactly); b = bits(l);
///      key = b >= 0 ? ~b : b ^ INT32_MIN (ascending key == descending value); invalid lanes 0x7FFFFFFF;
///      packed = (u64(u32(key)) << 32 | e) as i64 (ties in key -> ascending e)
///   1. bitonic sort of the BLOCK_E packed keys ascending, in shared memory
///   2. the first K lanes: l_sorted recovered from the key bits, max = l_sorted[0] (the top-1 logit),
///      r_k = exp2f((l_k - max) * 1.4426950408889634f)
///   3. one thread: S = sum_k r_k in order; S = S > 0 ? S : 1.0f; inv = 1/S
///   4. w_k = r_k * inv * float(scale[id_k]); topk_ids[t, k] = id_k (i32), topk_weights[t, k] = w_k (f32)
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum MoeRoutingFault : int {
  kRoutingFaultNone = 0,
  kRoutingFaultTopkOnProbabilities = 1,  ///< HF order: top-K of fp32 softmax(all) probabilities
  kRoutingFaultTieHighestId = 2,         ///< equal logits -> highest expert id first
  kRoutingFaultNoRenormalize = 3,        ///< w = r * scale (the 1/S is dropped)
  kRoutingFaultScaleBeforeSoftmax = 4,   ///< softmax over l_k * scale[id_k], no scale after
  kRoutingFaultNotScaled = 5,            ///< w = r / S: per_expert_scale never applied (decoder_stack drift fault)
};

inline constexpr Fault kMoeRoutingFaults[] = {
    {"routing_topk_on_probabilities", kRoutingFaultTopkOnProbabilities,
     "HF's order (§1.2): top-K on fp32 softmax probabilities over all experts, renormalised; differs from the "
     "logit order where distinct logits round or underflow to the same probability"},
    {"routing_tie_highest_id", kRoutingFaultTieHighestId,
     "equal logits ranked highest expert id first (the packed key's low word inverted)"},
    {"routing_no_renormalize", kRoutingFaultNoRenormalize,
     "weights not renormalised over the K selected: w = exp(l - max) * scale (the 1/S dropped)"},
    {"routing_scale_before_softmax", kRoutingFaultScaleBeforeSoftmax,
     "per_expert_scale applied to the selected logits before the softmax instead of to its output"},
    {"routing_weights_not_scaled", kRoutingFaultNotScaled,
     "softmax weights returned without the per_expert_scale multiply (decoder_stack's drift fault on the fused "
     "routing path; issue 11)"},
};

/// The §1.3 sortable key of an fp32 value: ascending signed key == descending value, bijective on bits.
LS_HD inline int32_t routing_sort_key(float x) {
  const int32_t b = static_cast<int32_t>(float_bits(x));
  return b >= 0 ? ~b : static_cast<int32_t>(static_cast<uint32_t>(b) ^ 0x80000000u);
}
/// Inverse of routing_sort_key.
LS_HD inline float routing_key_value(int32_t key) {
  return bits_float(key < 0 ? static_cast<uint32_t>(~key) : static_cast<uint32_t>(key) ^ 0x80000000u);
}
/// (key, lane) packed into one signed int64: ascending order = ascending key, then ascending lane.
LS_HD inline int64_t routing_pack(int32_t key, uint32_t lane) {
  return static_cast<int64_t>((static_cast<uint64_t>(static_cast<uint32_t>(key)) << 32) | lane);
}
LS_HD inline int32_t routing_packed_key(int64_t p) { return static_cast<int32_t>(static_cast<uint64_t>(p) >> 32); }
LS_HD inline uint32_t routing_packed_lane(int64_t p) { return static_cast<uint32_t>(static_cast<uint64_t>(p)); }

LS_HD inline int64_t routing_block_e(int64_t E) {
  int64_t n = 1;
  while (n < E) n <<= 1;
  return n;
}

/// Shared-memory layout (bytes): keys at 0, r after them, then sum and the fault's two scratch floats.
LS_HD inline int64_t routing_smem_bytes(int64_t E, int64_t K) { return routing_block_e(E) * 8 + (K + 3) * 4; }

/// G: storage type of gating_output; S: of per_expert_scale.
template <class G, class S>
struct MoeRoutingParams {
  const G* gating;  // (T, E)
  const S* scale;   // (E)
  int32_t* ids;     // (T, K) out
  float* weights;   // (T, K) out
  int64_t tokens;
  int32_t experts, topk, block_e;
  int32_t fault;

  template <class V>
  void buffers(V& v) {
    v.in(gating, tokens * experts);
    v.in(scale, int64_t{experts});
    v.out(ids, tokens * topk);
    v.out(weights, tokens * topk);
  }
};

constexpr float kRoutingLog2e = 1.4426950408889634f;

template <class G, class S>
LS_HD inline void kernel_block(const MoeRoutingParams<G, S>& P, const BlockCtx& ctx, int64_t t, unsigned char* smem) {
  const int32_t E = P.experts, K = P.topk, N = P.block_e;
  int64_t* keys = reinterpret_cast<int64_t*>(smem);                  // (N)
  float* r = reinterpret_cast<float*>(smem + int64_t{N} * 8);          // (K)
  float* sum = r + K;                                                  // (1)
  float* prob = sum + 1;                                               // fault: max, sum over all (2)
  const G* row = P.gating + t * E;
  const bool probs = P.fault == kRoutingFaultTopkOnProbabilities;

  if (probs) {  // fault: HF's probabilities over all experts (one thread: max and sum)
    if (ctx.tid == 0) {
      float m = -INFINITY, s = 0;
      for (int32_t e = 0; e < E; ++e) m = fmaxf(m, load_f32(row[e]));
      for (int32_t e = 0; e < E; ++e) s += exp2f((load_f32(row[e]) - m) * kRoutingLog2e);
      prob[0] = m;
      prob[1] = s;
    }
    ctx.sync();
  }

  // Phase 0: packed keys.
  LS_FOR_THREADS(ctx, e, N) {
    int32_t key = 0x7FFFFFFF;
    if (e < E) {
      float l = load_f32(row[e]);
      if (probs) l = exp2f((l - prob[0]) * kRoutingLog2e) / prob[1];
      key = routing_sort_key(l);
    }
    const uint32_t lane = P.fault == kRoutingFaultTieHighestId ? 0x7FFFFFFFu - static_cast<uint32_t>(e)
                                                                : static_cast<uint32_t>(e);
    keys[e] = routing_pack(key, lane);
  }
  ctx.sync();

  // Phase 1: bitonic sort, ascending.
  for (int32_t size = 2; size <= N; size <<= 1) {
    for (int32_t stride = size >> 1; stride > 0; stride >>= 1) {
      LS_FOR_THREADS(ctx, i, N / 2) {
        // Pair i of this step: stride is a power of two, so lo = 2*stride*(i/stride) + i%stride in bit ops.
        const int64_t lo = ((i & ~int64_t{stride - 1}) << 1) | (i & (stride - 1)), hi = lo + stride;
        const bool ascending = (lo & size) == 0;
        const int64_t a = keys[lo], b = keys[hi];
        const int64_t mn = a < b ? a : b, mx = a < b ? b : a;  // branch-free compare-exchange
        keys[lo] = ascending ? mn : mx;
        keys[hi] = ascending ? mx : mn;
      }
      ctx.sync();
    }
  }

  auto id_of = [&](int64_t k) -> int32_t {
    const uint32_t lane = routing_packed_lane(keys[k]);
    return static_cast<int32_t>(P.fault == kRoutingFaultTieHighestId ? 0x7FFFFFFFu - lane : lane);
  };

  // Phase 2: unnormalised weights of the first K lanes.
  const float max_l = routing_key_value(routing_packed_key(keys[0]));
  LS_FOR_THREADS(ctx, k, K) {
    const float l = routing_key_value(routing_packed_key(keys[k]));
    if (probs) {
      r[k] = l;  // the probability itself
    } else if (P.fault == kRoutingFaultScaleBeforeSoftmax) {
      float m = -INFINITY;
      for (int32_t j = 0; j < K; ++j)
        m = fmaxf(m, routing_key_value(routing_packed_key(keys[j])) * load_f32(P.scale[id_of(j)]));
      r[k] = exp2f((l * load_f32(P.scale[id_of(k)]) - m) * kRoutingLog2e);
    } else {
      r[k] = exp2f((l - max_l) * kRoutingLog2e);
    }
  }
  ctx.sync();

  // Phase 3: the sum over the K selected, guarded.
  if (ctx.tid == 0) {
    float s = 0;
    for (int32_t k = 0; k < K; ++k) s += r[k];
    sum[0] = s > 0 ? s : 1.0f;
  }
  ctx.sync();

  // Phase 4: weights and ids.
  const float inv = 1.0f / sum[0];
  LS_FOR_THREADS(ctx, k, K) {
    const int32_t id = id_of(k);
    float w;
    if (P.fault == kRoutingFaultNoRenormalize) w = r[k] * load_f32(P.scale[id]);
    else if (P.fault == kRoutingFaultScaleBeforeSoftmax || P.fault == kRoutingFaultNotScaled) w = r[k] * inv;
    else w = r[k] * inv * load_f32(P.scale[id]);
    P.ids[t * K + k] = id;
    P.weights[t * K + k] = w;
  }
}

}  // namespace lockstep::device
