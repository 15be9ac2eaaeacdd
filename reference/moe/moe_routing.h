#pragma once
/// Reference `moe_routing` (spec: shared/spec/gemma4-kvcache-speculative.md §1.1, §1.3; decision 7), plain and
/// in double:
///   order   each row's experts sorted by the routing total order (routing_ranks_before: a comparator on
///           (value class, value, expert id) — +NaN first, then numbers descending with +0 above -0, then
///           -NaN; equal values to the lowest id), written from the rule, not from the kernel's packed key
///   ids     the first K of that order
///   weights max = the top-1 logit; r_k = exp(l_k - max) (double); S = sum r_k; S := S > 0 ? S : 1 (a NaN S
///           becomes 1: the §1.3 guard, so a selected NaN leaves the other weights unnormalised);
///           w_k = r_k / S * scale[id_k]; stored once to f32
/// Logits are widened exactly to fp32 first (bf16/f16 inputs order like their original values).
///
/// weight_error (the tolerance's atol, oracle/moe/moe_routing.h) bounds |device - reference| over every finite
/// weight for a kernel that computes in fp32 as §1.3 does: diff = l_k - max, t = diff * fl32(log2 e),
/// r = exp2f(t) (<= 2 ulp, CUDA's documented bound; glibc is tighter), S summed sequentially over K,
/// inv = 1/S, w = (r * inv) * scale. Per element, with u = 2^-24 and a = 2^-148 (exp2f's absolute error on
/// fp32 subnormals, no flush to zero):
///   e_k   = (1 + 4u) exp(3u' |l_k - max|) - 1          relative error of r_k (argument: 3 roundings)
///   eps_S = (1 + (sum_k r_k e_k + K a) / S)(1 + u)^(K-1) - 1   relative error of S
///   theta = (1 + u)^3 - 1                              1/S, r * inv, * scale
///   bound = |scale| / S * ((r_k (1 + e_k) + a)(1 + theta) / (1 - eps_S) - r_k) + u |w_k| + 3 * 2^-150
/// (u' = u (1 + 2^-20) absorbs the double evaluation; the last two terms are the reference's own rounding to
/// f32 and the subnormal results of the two products). Under the guard (S NaN -> 1) eps_S = 0 and S = 1.
#include <vector>

#include "core/moe/moe_routing.h"

namespace lockstep::reference {

/// The routing total order on fp32 logits: true when (value a, expert ia) ranks before (value b, expert ib).
bool routing_ranks_before(float a, int64_t ia, float b, int64_t ib);

MoeRoutingOutputs moe_routing(const MoeRoutingCase& c);

/// HF's probability-domain router epilogue (§1.2) on the same logits, for the cross-check property:
///   p_e = round_to(prob_dtype, softmax over ALL E experts (double)), ids = top-K of p (descending; equal
///   probabilities -> lowest id: torch's tie order is undocumented), w_k = p_k / sum_selected p * scale[id_k]
/// (double, stored to f32). Defined for rows of finite logits (rows with a non-finite logit are left 0).
MoeRoutingOutputs moe_routing_hf(const MoeRoutingCase& c, DType prob_dtype);

/// The probabilities HF ranks: row t's softmax over all experts rounded to `prob_dtype`.
std::vector<double> moe_routing_hf_probs(const MoeRoutingCase& c, int64_t t, DType prob_dtype);

}  // namespace lockstep::reference
