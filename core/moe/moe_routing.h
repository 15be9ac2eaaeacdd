#pragma once
/// Case and output types of `moe_routing`: Gemma-4's fused MoE router epilogue (spec:
/// shared/spec/gemma4-kvcache-speculative.md §1.1 contract, §1.3 fused sort kernel = the target; decision 7).
///
/// Layouts (T = tokens, E = experts, K = topk):
///   gating_output     (T, E)  bf16 / f16 / f32   router logits
///   per_expert_scale  (E)     bf16 / f16 / f32   a parameter: any finite value (0 and negatives included)
/// Outputs:
///   topk_ids          i32 (T, K)   experts in the routing total order (below), compared exactly
///   topk_weights      f32 (T, K)   softmax over the K selected logits times per_expert_scale[id]
///
/// Routing total order (decision 7, the bit rule of §1.3 on the logits widened exactly to fp32):
/// descending value; equal values -> lowest expert id first; +0 above -0; positive NaN above +inf, negative
/// NaN below -inf (NaNs among themselves by payload: a larger positive-NaN payload ranks higher, a larger
/// negative-NaN payload lower). Weights: max = the top-1 logit, r_k = exp(l_k - max), S = sum_k r_k,
/// S := (S > 0 ? S : 1) (a NaN sum becomes 1: the NaN guard of §1.3), w_k = r_k / S * scale[id_k].
/// A selected NaN or +inf logit, or an all -inf row, therefore gives NaN weights where the spec says; NaN
/// compares equal to NaN in the same position (decision 7).
#include <cstdint>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

struct MoeRoutingCase {
  int64_t topk = 1;
  int64_t data_seed = 0;  ///< informational: seed the values were drawn from
  Tensor gating_output;
  Tensor per_expert_scale;

  template <class V>
  void fields(V& v) {
    v("topk", topk, IntRange{1, kMoeRoutingMaxExperts});
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("gating_output", gating_output);
    v("per_expert_scale", per_expert_scale);
  }

  /// The launchers' later limit (S1 later variant: E <= 1024).
  static constexpr int64_t kMoeRoutingMaxExperts = 1024;

  int64_t tokens() const { return gating_output.rank() == 2 ? gating_output.dim(0) : 0; }
  int64_t experts() const { return gating_output.rank() == 2 ? gating_output.dim(1) : 0; }
};

struct MoeRoutingOutputs {
  Tensor topk_ids;
  Tensor topk_weights;
  /// Reference: the largest bound, over every finite weight, on |device f32 weight - reference weight rounded
  /// to f32| (reference/moe/moe_routing.h routing_weight_error_bound); the tolerance's atol. 0 on the device.
  double weight_error = 0;

  template <class V>
  void fields(V& v) {
    v("topk_ids", topk_ids);
    v("topk_weights", topk_weights, Rule{Rule::tolerance});
    v("weight_error", weight_error, Rule{Rule::info});
  }
};

/// Validates ranks, dtypes, shapes, topk and the scale: Error naming the field and the value, e.g.
/// `case.topk = 9: must be <= E = 8 (the number of experts, gating_output f32[4,8])`.
void validate(const MoeRoutingCase& c);

/// Zero-filled outputs of the right shapes: ids i32 (T, K), weights f32 (T, K).
MoeRoutingOutputs moe_routing_alloc(const MoeRoutingCase& c);

/// The input logit at flat index i widened exactly to fp32 (bf16/f16/f32; NaN payload and sign kept).
float moe_logit_f32(const Tensor& gating, int64_t i);

}  // namespace lockstep
