#pragma once
/// Registry entry of segment_seqlens_offsets: reference (reference/metadata), device kernel
/// (device/metadata), generator (fuzz/metadata); integer outputs compare exactly.
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/op.h"
#include "reference/metadata/segment_seqlens_offsets.h"

namespace lockstep::oracle {

/// Coverage regions of the segment_seqlens_offsets generator.
inline std::vector<Region<SegmentSeqlensCase>> segment_seqlens_offsets_regions() {
  using C = const SegmentSeqlensCase&;
  auto pos_kind = [](const Tensor& pos, const Tensor& ids) {
    if (pos.rank() < 2) return "generated";
    return pos.rank() == ids.rank() ? "batched_like_ids" : "fewer_extra_dims";
  };
  auto any_empty_row = [](const Tensor& ids) {
    const int64_t T = ids.rank() >= 1 ? ids.dim(ids.rank() - 1) : 0;
    if (T == 0) return ids.numel() == 0 && ids.rank() >= 2 && ids.dim(ids.rank() - 2) > 0;
    for (int64_t row = 0; row < ids.numel() / T; ++row) {
      bool empty = true;
      for (int64_t t = 0; t < T && empty; ++t) empty = ids.get_int(row * T + t) == 0;
      if (empty) return true;
    }
    return false;
  };
  return Regions<SegmentSeqlensCase>()
      .values("layout", {"thd", "bshd"}, [](C c) { return std::string(enum_name(c.layout)); })
      .values("mask", {"no_mask", "padding", "causal", "padding_causal", "causal_bottom_right",
                       "padding_causal_bottom_right"},
              [](C c) { return std::string(enum_name(c.mask)); })
      .values("extra_dims", {"0", "1", "2", "3"}, [](C c) { return std::to_string(c.extra_shape().size()); })
      .when("edge=zero_size_extra_dim", [](C c) { return !c.extra_shape().empty() && c.num_slices() == 0; })
      .values("q_positions", {"generated", "batched_like_ids", "fewer_extra_dims"},
              [pos_kind](C c) { return std::string(pos_kind(c.q_segment_pos, c.q_segment_ids)); })
      .values("attention", {"self", "cross"}, [](C c) {
        return c.q_segment_ids.shape() == c.kv_segment_ids.shape() && c.q_segment_ids == c.kv_segment_ids ? "self"
                                                                                                         : "cross";
      })
      .values("max_segments_per_seq", {"1", "2+"}, [](C c) { return c.max_segments_per_seq == 1 ? "1" : "2+"; })
      .when("edge=empty_row", [any_empty_row](C c) { return any_empty_row(c.q_segment_ids); })
      .build();
}

}  // namespace lockstep::oracle
