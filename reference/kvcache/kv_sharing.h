#pragma once
/// Reference YOCO / KV-sharing fast prefill (spec: shared/spec/gemma4-kvcache-speculative.md §2.5, §6):
/// the source-layer rule as the spec states it (a max over a set), the metadata transform as plain loops over
/// requests (no bucketize), and the layer stack on the reference attention (reference::ragged_paged_attention).
#include "core/kvcache/kv_sharing.h"

namespace lockstep::reference {

KvSharingOutputs kv_sharing(const KvSharingCase& c);

/// The §6.3 "full pass" of shared layer `layer` over its own KV when that KV is what its source wrote: the
/// layer's queries for every token row against the source layer's k/v and pre-step cache, all rows
/// (T, Hq, D). Its rows li[k] equal kv_sharing(c).out[layer][k] (the property tests/kvcache/kv_sharing_props).
Tensor kv_sharing_full_pass(const KvSharingCase& c, int64_t layer, int64_t source);

}  // namespace lockstep::reference
