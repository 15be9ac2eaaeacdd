#pragma once
/// Generators for `nsa_metadata` cases and its per-request batching rule.
///
/// Reaches: decode, target_verify (D 1..8) and draft_extend (accept lengths 0..5, zero-length requests,
/// kv_len == qo_len), bs 0..40, topk tiny (clamp on most tokens), mid and 2048, short and long sequences,
/// page sizes 1/2/4/16, page-table widths 0..9, buffers exactly full or with spare slots, and device block
/// sizes 1..256 (request boundaries inside and across blocks).
#include <rapidcheck.h>

#include "core/metadata/nsa_metadata.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

rc::Gen<NsaCase> gen_nsa_case();

/// Request i of a case as a case of its own (buffers exactly its token count).
NsaCase single_request(const NsaCase& c, int64_t i);

/// Ragged batching rule: request i's rows of the batched outputs (its cumulative lengths re-based to 0)
/// equal the outputs of single_request(c, i).
BatchingRule<NsaCase, NsaOutputs> nsa_batching_rule();

}  // namespace lockstep::fuzz
