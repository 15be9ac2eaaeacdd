#pragma once
/// Reference `nsa_metadata` (spec: shared/spec/attention-metadata.md §3.1–§3.5, decision 6): a
/// straightforward host loop over requests, the way the eager backend builds it:
///   seqlens_expanded  = concat_r arange(kv_r - qo_r + 1, kv_r + 1)
///   nsa_cache_seqlens = min(seqlens_expanded, topk)            (upper clamp only)
///   nsa_cu_seqlens_k  = [0, cumsum(nsa_cache_seqlens)],  nsa_cu_seqlens_q = arange(N + 1)
///   page_table_1      = repeat_interleave(page_table, qo, dim 0)
///   real_page_table   = page_table_1[:, ::page_size] / page_size (identical when page_size == 1)
///   cache_seqlens     = kv lengths per request (seq_lens, + D in target_verify), cu_seqlens_k = [0, cumsum]
/// Buffers have their maximum size (max_tokens); entries past N are 0 (upstream leaves them stale and
/// consumers read only [:N]; lockstep pins them so the device's tail is checked too).
/// Decision 6: kv_len < qo_len is a validation error naming the request (upstream's stored version yields
/// non-positive lengths; a newer Triton helper clamps them to 0).
#include "core/metadata/nsa_metadata.h"

namespace lockstep::reference {

NsaOutputs nsa_metadata(const NsaCase& c);

}  // namespace lockstep::reference
