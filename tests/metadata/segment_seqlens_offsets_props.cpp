// Properties of segment_seqlens_offsets (ctest label: property): device == reference exactly on generated
// cases, invariants of the outputs that hold independently of the reference, the generator's reach, and
// edge shapes (zero-sized extra dims, BSHD's empty offsets, generated positions) replaying from a dump.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "metadata/metadata_test_util.h"
#include "oracle/campaign.h"
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

TEST(SegmentSeqlensOffsetsGenerator, ReachesTheEdges) {
  const auto& op = oracle::find_op("segment_seqlens_offsets");
  int bshd = 0, cross = 0, generated = 0, unbatched_pos = 0, partial_pos = 0, zero_extra = 0, more_runs = 0;
  int masks[6] = {};
  for (int64_t i = 0; i < 1000; ++i) {
    const std::any a = oracle::campaign_case(op, 1, i).value();
    const auto& c = std::any_cast<const SegmentSeqlensCase&>(a);
    bshd += c.layout == QkvLayout::bshd;
    cross += c.q_tokens() != c.kv_tokens();
    generated += c.q_segment_pos.rank() == 0;
    masks[static_cast<int>(c.mask)]++;
    zero_extra += c.num_slices() == 0;
    const int64_t ps = segment_pos_slices(c.q_segment_pos);
    unbatched_pos += c.num_slices() >= 2 && c.q_segment_pos.rank() == 2;
    partial_pos += c.q_segment_pos.rank() > 2 && ps < c.num_slices();
    if (c.layout == QkvLayout::thd) {
      const auto o = reference::segment_seqlens_offsets(c);
      const int64_t S = c.max_segments_per_seq;
      for (int64_t k = S; k < o.q_offsets.numel(); k += S + 1) more_runs += o.q_offsets.get_int(k) != -1;
    }
  }
  for (int m : masks) EXPECT_GT(m, 50);
  EXPECT_GT(bshd, 50);
  EXPECT_GT(cross, 100);
  EXPECT_GT(generated, 100);
  EXPECT_GT(zero_extra, 10);
  EXPECT_GT(unbatched_pos, 50);  // seed 002: batched ids with unbatched positions
  EXPECT_GT(partial_pos, 10);    // positions batched over some trailing extra dims only
  EXPECT_GT(more_runs, 10);      // more runs than segment slots
}

TEST(SegmentSeqlensOffsetsGenerator, EdgeShapesRoundTripThroughADump) {
  lockstep::testing::expect_edge_shapes_replay(oracle::find_op("segment_seqlens_offsets"), 3, [](const std::any& a) {
    const auto& c = std::any_cast<const SegmentSeqlensCase&>(a);
    if (c.num_slices() == 0) return 0;
    if (c.layout == QkvLayout::bshd) return 1;
    if (c.q_segment_pos.rank() == 0 && c.kv_segment_pos.rank() == 0) return 2;
    return -1;
  });
}
