#pragma once
/// Generator of `moe_routing` cases and its per-token batching rule.
///
/// Reaches: gating bf16/f16/f32 and per_expert_scale bf16/f16/f32; E = 1, powers of two and not, up to 256;
/// K = 1, 2..8 and K = E; T = 0, 1 and more; row patterns: Gaussian logits, small-integer logits (ties, incl.
/// ties across the K boundary), a huge gap (one logit 100..300 above the rest: every other fp32 probability
/// underflows to 0, so HF's probability order differs), specials (+-0, +-inf, +-NaN with payloads, all -inf
/// rows), and a mix of these per row; scales uniform in [0, 1) (the upstream test), ones, signed with zeros,
/// and large.
#include <rapidcheck.h>

#include "core/moe/moe_routing.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

rc::Gen<MoeRoutingCase> gen_moe_routing_case();

/// Token i of a case as a case of its own (gating row i, the same scale and K).
MoeRoutingCase moe_routing_token(const MoeRoutingCase& c, int64_t i);

/// Per-token batching rule: row i of the batched outputs equals the outputs of moe_routing_token(c, i).
BatchingRule<MoeRoutingCase, MoeRoutingOutputs> moe_routing_batching_rule();

}  // namespace lockstep::fuzz
