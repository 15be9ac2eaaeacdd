#pragma once
/// Generator of `kv_sharing` cases (YOCO fast prefill, spec §2.5, §6).
///
/// A case is drawn as a small shrinkable spec and materialised deterministically. It reaches: 1–12 layers with
/// sliding/full mixes (all one type, alternating, Gemma's 5:1 with the last layer full, random), every
/// num_kv_shared_layers in [0, L] (0 and L included, so the no-matching-type error — first_shared = 0 or a
/// self-decoder of one type — comes up), mixes where the nearest earlier layer's type differs from the matching
/// one; pure-decode batches (max_query_len == 1, incl. idle requests), prefill chunks (last token's logits or
/// none), verify blocks (all positions or a suffix), cached prefixes, requests with no scheduled tokens, token
/// padding rows, CUDA-graph padding of the logits indices (garbage values), page sizes 1/2/4/16 with slack pages,
/// GQA, odd head dims, f32/bf16/f16.
#include <cstdint>
#include <vector>

#include <rapidcheck.h>

#include "core/kvcache/kv_sharing.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

struct KvSharingReqSpec {
  int32_t q_len = 1;    ///< scheduled tokens
  int32_t prefix = 0;   ///< cached tokens before them
  int32_t logits = 1;   ///< logits indices: the last `logits` scheduled tokens
  int32_t slack_pages = 0;
};

struct KvSharingSpec {
  DType dtype = DType::f32;
  std::vector<int32_t> layer_types;
  int32_t num_kv_shared_layers = 0;
  std::vector<KvSharingReqSpec> reqs;
  int32_t num_kv_heads = 1, group = 1, head_dim = 4, page_size = 1;
  int32_t sliding_window = 4, block_q = 8, block_kv_pages = 2;
  double scale_mult = 1.0, amplitude = 1.0;
  int32_t padded_tokens = 0, padded_logits = 0, pad_kind = 0, spare_pages = 0;
  uint64_t data_seed = 0;
};

KvSharingCase materialize(const KvSharingSpec& spec);
rc::Gen<KvSharingSpec> gen_kv_sharing_spec();
rc::Gen<KvSharingCase> gen_kv_sharing_case();

}  // namespace lockstep::fuzz

namespace lockstep::fuzz {

/// The requests a batched case splits into: those with at least one logits index (a request without one is not
/// a valid case alone: fast_prefill_forward asserts n > 0).
std::vector<int64_t> kv_sharing_sliceable_requests(const KvSharingCase& c);

/// Request `r` of a batched case as a case of its own: its token rows of every layer, its block-table entries,
/// its logits indices (shifted, no padding), the same layers and caches.
KvSharingCase single_request(const KvSharingCase& c, int64_t r);

/// Ragged batching rule (per request): the transform is per request and attention never mixes requests, so for
/// each request r with logits, the batched run restricted to r equals the run of single_request(c, r): kv_source
/// and config_error whole; query_start_loc' as [0, count_r]; num_actual_tokens = count_r; seq_lens [s_r];
/// slot_writes and a non-shared layer's out rows at r's token rows; a shared layer's out rows
/// [qsl'[r], qsl'[r+1]) of the batch at rows [0, count_r). Not per request (left absent): request_ids (the
/// request index itself), max_query_len / max_seq_len / num_reqs (batch maxima and size) and the caches, which
/// every request writes.
BatchingRule<KvSharingCase, KvSharingOutputs> kv_sharing_batching_rule();

}  // namespace lockstep::fuzz
