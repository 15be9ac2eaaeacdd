#pragma once
/// Case and output types of `segment_seqlens_offsets`: TransformerEngine's segment ids/positions →
/// seqlens/offsets (spec: shared/spec/attention-metadata.md §2, decision 5).
///
/// Layouts (E = extra leading batch dims, possibly none; B = batch; Tq/Tkv = tokens; S = max_segments_per_seq):
///   q_segment_ids   i32 (E..., B, Tq)    0 = padding, ids >= 1
///   kv_segment_ids  i32 (E..., B, Tkv)   same E and B as q
///   q_segment_pos   i32 (E'..., B, Tq)   E' a suffix of E (broadcast over the rest, e.g. unbatched (B, Tq)),
///                                        or empty: generated from the ids (§2.6)
///   kv_segment_pos  i32 (E''..., B, Tkv) likewise
/// Outputs:
///   q_seqlens, kv_seqlens    i32 (E..., B, S) THD (unused slots 0) | (E..., B) BSHD
///   q_offsets, kv_offsets    i32 (E..., B, S+1) THD (unused slots -1) | empty BSHD
///   q_segment_pos, kv_segment_pos  i32 (E..., B, T): the positions used (given ones broadcast, or generated)
#include <array>
#include <cstdint>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

enum class QkvLayout : int { thd = 0, bshd = 1 };
template <>
struct EnumNames<QkvLayout> {
  static constexpr std::array<const char*, 2> names{"thd", "bshd"};
};

/// TE's AttnMaskType values that change the result.
enum class AttnMask : int {
  no_mask = 0,
  padding = 1,
  causal = 2,
  padding_causal = 3,
  causal_bottom_right = 4,
  padding_causal_bottom_right = 5,
};
template <>
struct EnumNames<AttnMask> {
  static constexpr std::array<const char*, 6> names{"no_mask",        "padding",
                                                    "causal",         "padding_causal",
                                                    "causal_bottom_right", "padding_causal_bottom_right"};
};

inline bool mask_is_causal(AttnMask m) { return m == AttnMask::causal || m == AttnMask::padding_causal; }
inline bool mask_is_bottom_right(AttnMask m) {
  return m == AttnMask::causal_bottom_right || m == AttnMask::padding_causal_bottom_right;
}
inline bool mask_is_padding(AttnMask m) {
  return m == AttnMask::padding || m == AttnMask::padding_causal || m == AttnMask::padding_causal_bottom_right;
}

struct SegmentSeqlensCase {
  QkvLayout layout = QkvLayout::thd;
  AttnMask mask = AttnMask::padding;
  int64_t max_segments_per_seq = 1;
  Tensor q_segment_ids, kv_segment_ids;
  Tensor q_segment_pos, kv_segment_pos;

  template <class V>
  void fields(V& v) {
    v("layout", layout);
    v("mask", mask);
    v("max_segments_per_seq", max_segments_per_seq, IntRange{1, 4096});
    v("q_segment_ids", q_segment_ids);
    v("kv_segment_ids", kv_segment_ids);
    v("q_segment_pos", q_segment_pos);
    v("kv_segment_pos", kv_segment_pos);
  }

  /// Extra leading batch dims of the ids (everything before (B, T)).
  Shape extra_shape() const;
  int64_t num_slices() const { return shape_numel(extra_shape()); }
  int64_t batch() const { return q_segment_ids.dim(q_segment_ids.rank() - 2); }
  int64_t q_tokens() const { return q_segment_ids.dim(q_segment_ids.rank() - 1); }
  int64_t kv_tokens() const { return kv_segment_ids.dim(kv_segment_ids.rank() - 1); }
};

struct SegmentSeqlensOutputs {
  Tensor q_seqlens, kv_seqlens;
  Tensor q_offsets, kv_offsets;
  Tensor q_segment_pos, kv_segment_pos;

  template <class V>
  void fields(V& v) {
    v("q_seqlens", q_seqlens);
    v("kv_seqlens", kv_seqlens);
    v("q_offsets", q_offsets);
    v("kv_offsets", kv_offsets);
    v("q_segment_pos", q_segment_pos);
    v("kv_segment_pos", kv_segment_pos);
  }
};

/// Validates dtypes, ranks, values and the batching shapes (decision 5). The review findings of seed 002
/// are errors naming the field: an empty extra shape on one side only, different q and kv extra shapes,
/// positions with more dims than ids, and positions whose trailing shape does not match the ids.
void validate(const SegmentSeqlensCase& c);

/// Zero-filled outputs of the right shapes for a valid case (unused offset slots are NOT pre-filled).
SegmentSeqlensOutputs segment_seqlens_alloc(const SegmentSeqlensCase& c);

/// Number of (B, T) rows of positions `pos` holds (product of its leading dims; 0 when empty).
int64_t segment_pos_slices(const Tensor& pos);

}  // namespace lockstep
