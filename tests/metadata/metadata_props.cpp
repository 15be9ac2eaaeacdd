// Properties of the metadata ops (ctest label: property): device == reference exactly on generated cases,
// and invariants of the outputs that hold independently of the reference.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/metadata/nsa_metadata.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/op.h"
#include "reference/metadata/segment_seqlens_offsets.h"

using namespace lockstep;

RC_GTEST_PROP(SegmentSeqlensOffsets, DeviceMatchesReference, ()) {
  const SegmentSeqlensCase c = fuzz::materialize(*fuzz::gen_segment_spec());
  RC_TAG(enum_name(c.layout), enum_name(c.mask));
  const auto r = oracle::find_op("segment_seqlens_offsets").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

RC_GTEST_PROP(SegmentSeqlensOffsets, SeqlensNeverExceedTokensAndOffsetsIncrease, ()) {
  fuzz::SegmentSpec spec = *fuzz::gen_segment_spec();
  spec.layout = QkvLayout::thd;
  const SegmentSeqlensCase c = fuzz::materialize(spec);
  const auto o = reference::segment_seqlens_offsets(c);
  const int64_t S = c.max_segments_per_seq, rows = o.q_seqlens.numel() / S;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t total = 0;
    for (int64_t k = 0; k < S; ++k) total += o.q_seqlens.get_int(r * S + k);
    RC_ASSERT(total <= c.q_tokens());
    int64_t prev = -1;
    bool ended = false;
    for (int64_t k = 0; k <= S; ++k) {
      const int64_t off = o.q_offsets.get_int(r * (S + 1) + k);
      if (off == -1) ended = true;
      else {
        RC_ASSERT(!ended);  // -1 only as a tail
        RC_ASSERT(off > prev);
        RC_ASSERT(off < c.q_tokens());
        prev = off;
      }
    }
  }
}

RC_GTEST_PROP(NsaMetadata, DeviceMatchesReference, ()) {
  const NsaCase c = *fuzz::gen_nsa_case();
  RC_TAG(enum_name(c.mode));
  const auto r = oracle::find_op("nsa_metadata").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

RC_GTEST_PROP(NsaMetadata, ClampedLengthsAndPrefixSums, ()) {
  const NsaCase c = *fuzz::gen_nsa_case();
  const auto o = device::nsa_metadata(c);
  const int64_t n = o.num_tokens.get_int(0);
  RC_ASSERT(n <= c.max_tokens);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t e = o.seqlens_expanded.get_int(t), k = o.nsa_cache_seqlens.get_int(t);
    RC_ASSERT(e >= 1);  // kv_len >= qo_len: every token sees at least itself
    RC_ASSERT(k == std::min<int64_t>(e, c.topk));
    RC_ASSERT(o.nsa_cu_seqlens_k.get_int(t + 1) - o.nsa_cu_seqlens_k.get_int(t) == k);
  }
}
