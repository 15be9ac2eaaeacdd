#pragma once
/// Generators for `segment_seqlens_offsets` cases and its batching rule.
///
/// A case is drawn as a small shrinkable spec and materialised deterministically from its data seed.
/// Reaches: THD and BSHD, every mask type, self-attention (q == kv) and cross-attention (different
/// lengths, ids and positions), packed rows with 1..S+1 segments (more runs than slots), leading, trailing
/// and intra-sequence padding, empty rows, ids reused or larger than S, positions given (default THD
/// positions, arange, striped, random) or generated, and 0–3 extra leading batch dims (sizes 0, 1, >1) on
/// the ids with positions batched over all, some trailing or none of them (seed 002).
#include <cstdint>

#include <rapidcheck.h>

#include "core/metadata/segment_seqlens_offsets.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

struct SegmentSpec {
  QkvLayout layout = QkvLayout::thd;
  AttnMask mask = AttnMask::padding;
  int32_t max_segments = 1;
  int32_t batch = 1;
  int32_t q_tokens = 1, kv_tokens = 1;
  bool self_attention = true;
  Shape extra;                      ///< extra leading dims of the ids
  int32_t q_pos_dims = -1;          ///< -1: positions generated; else how many trailing extra dims they carry
  int32_t kv_pos_dims = -1;
  int32_t pos_kind = 0;             ///< 0 default THD, 1 arange, 2 striped (q even, kv odd), 3 random
  int32_t segments = 1;             ///< segments per row (upper bound)
  int32_t odd_ids = 0;              ///< 0 in order; 1 reuse an id; 2 ids beyond S
  uint64_t data_seed = 0;
};

SegmentSeqlensCase materialize(const SegmentSpec& spec);
rc::Gen<SegmentSpec> gen_segment_spec();
rc::Gen<SegmentSeqlensCase> gen_segment_case();

/// Stacked batching rule: slice i = ids slice i with positions slice (i mod their slices).
BatchingRule<SegmentSeqlensCase, SegmentSeqlensOutputs> segment_batching_rule();

}  // namespace lockstep::fuzz
