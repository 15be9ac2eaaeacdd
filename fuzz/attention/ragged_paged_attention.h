#pragma once
/// Generators for ragged paged attention cases.
///
/// A case is drawn as a small shrinkable *spec* (batch shape, heads, page layout, multi-item layout,
/// window, soft cap, tile sizes, data seed) and materialised deterministically; shrinking acts on the
/// spec, never on tensor values. The generator reaches: 1–8 sequences (plus padded batch slots),
/// decode (q_len 1) and prefill with and without a cached prefix, kv_len up to a few hundred, head dims
/// 64/128/256, GQA groups 1/2/4/8, page sizes 1/4/16, scattered page tables, prefix pages shared between
/// sequences, stale entries (valid, -1, >= P, INT32_MAX/MIN) past kv_len and in the padded tail,
/// multi-item layouts with 1..N items and empty (1-token) items, windows, soft cap, f32, bf16 and f16,
/// logits from ~10 up to ~2e4 in magnitude (sm_scale multiplier up to 256, values up to +-8), and tile
/// sizes with a last partial block.
#include <cstdint>
#include <vector>

#include <rapidcheck.h>

#include "core/attention/ragged_paged_attention.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

constexpr int32_t kDelimiter = 99;

struct RpaSeqSpec {
  int32_t q_len = 1;       ///< new tokens (multi-item: derived from the layout)
  int32_t prefix = 0;      ///< cached tokens before them (0 for multi-item requests)
  int32_t slack_pages = 0; ///< stale page-table entries after the sequence's pages
  int32_t share_from = -1; ///< alias full prefix pages of this earlier sequence (-1: none)
  bool multi_item = false;
  int32_t query_len = 0;            ///< multi-item: query tokens before the first delimiter
  std::vector<int32_t> item_lens;   ///< multi-item: item lengths (0 = empty item, only its delimiter)
};

struct RpaSpec {
  DType dtype = DType::f32;
  MaskMode mode = MaskMode::causal;
  int32_t num_kv_heads = 1, group = 1, head_dim = 64, page_size = 1;
  int32_t block_q = 8, block_kv_pages = 2;
  int32_t sliding_window = 0;
  double soft_cap = 0.0, scale_mult = 1.0;
  double amplitude = 1.0;    ///< q, k, v and cache values uniform in [-amplitude, amplitude)
  int32_t padded_seqs = 0;   ///< extra batch slots past num_seqs (kv_len 0)
  int32_t padded_tokens = 0; ///< extra token rows past the last sequence
  int32_t spare_pages = 0;   ///< unreferenced cache pages
  int32_t stale_kind = 0;    ///< 0 valid-but-foreign, 1 -1, 2 P, 3 P+k, 4 INT32_MAX, 5 INT32_MIN, 6 mixed
  uint64_t data_seed = 0;
  std::vector<RpaSeqSpec> seqs;
};

/// The multi-item token sequence of a spec'd request: query + [d] + item1 + [d] + ... + [d].
std::vector<int32_t> multi_item_tokens(const RpaSeqSpec& s, uint64_t seed);

/// Materialises a spec into a valid case; `mode` overrides spec.mode (causal/dense/segment built from
/// the same layout and the same values, for the mode-equivalence properties).
RpaCase materialize(const RpaSpec& spec);
RpaCase materialize(const RpaSpec& spec, MaskMode mode);

rc::Gen<RpaSpec> gen_rpa_spec();
/// Specs restricted to multi-item (segment/dense) layouts.
rc::Gen<RpaSpec> gen_rpa_multi_item_spec();
rc::Gen<RpaCase> gen_rpa_case();

}  // namespace lockstep::fuzz

namespace lockstep::fuzz {

/// Sequence `i` of a batched case as a case of its own: the same cache, that sequence's token rows,
/// page-table entries and mask metadata. The batching rule of the op is
/// `op(batch).rows(i) == op(single_sequence(batch, i))`.
RpaCase single_sequence(const RpaCase& c, int64_t i);

/// Ragged batching rule of the op: sequence i's output rows of the batched run equal the output of
/// single_sequence(c, i). The KV cache is shared by all sequences and is not part of the rule.
BatchingRule<RpaCase, RpaOutputs> rpa_batching_rule();

}  // namespace lockstep::fuzz
