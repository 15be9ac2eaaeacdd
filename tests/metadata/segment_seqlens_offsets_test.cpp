// Golden vectors of shared/spec/attention-metadata.md §2.7 and the batching errors of decision 5
// (seed 002's review findings), for the reference and the device kernel.
#include <gtest/gtest.h>

#include "core/error.h"
#include "device/metadata/segment_seqlens_offsets.h"
#include "reference/metadata/segment_seqlens_offsets.h"

using namespace lockstep;

namespace {

using V = std::vector<int32_t>;

Tensor t2(const std::vector<V>& rows) {
  V flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from<int32_t>({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.at(0).size())}, flat);
}

V vals(const Tensor& t) { return V(t.span<int32_t>().begin(), t.span<int32_t>().end()); }

SegmentSeqlensCase self_attn(const std::vector<V>& ids, int64_t S, AttnMask mask = AttnMask::padding_causal) {
  SegmentSeqlensCase c;
  c.mask = mask;
  c.max_segments_per_seq = S;
  c.q_segment_ids = t2(ids);
  c.kv_segment_ids = t2(ids);
  return c;
}

/// Runs the reference and the device; checks they agree bit for bit and returns the reference.
SegmentSeqlensOutputs run(const SegmentSeqlensCase& c) {
  const auto ref = reference::segment_seqlens_offsets(c);
  const auto dev = device::segment_seqlens_offsets(c);
  EXPECT_EQ(first_difference(ref, dev), "");
  return ref;
}

void expect_error(const SegmentSeqlensCase& c, const std::string& field, const std::string& needle) {
  try {
    validate(c);
    FAIL() << "expected an error containing " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_THROW(device::segment_seqlens_offsets(c), Error);
  EXPECT_THROW(reference::segment_seqlens_offsets(c), Error);
}

}  // namespace

TEST(SegmentSeqlensOffsets, GoldenDocstringPositions) {
  // Upstream-stated (HEAD docstring of from_segment_ids_and_pos); the d32 default THD generator.
  auto o = run(self_attn({{1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0}}, 4));
  EXPECT_EQ(vals(o.q_segment_pos), (V{0, 1, 2, 0, 1, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(vals(o.q_seqlens), (V{3, 2, 5, 0}));
  EXPECT_EQ(vals(o.q_offsets), (V{0, 3, 5, -1, -1}));
  EXPECT_EQ(vals(o.kv_seqlens), (V{3, 2, 5, 0}));
  EXPECT_EQ(vals(o.kv_offsets), (V{0, 3, 5, -1, -1}));

  o = run(self_attn({{1, 1, 1, 2, 2, 3, 3, 3, 0, 0, 4, 4, 0, 0, 0, 0}}, 4));  // intra-sequence padding
  EXPECT_EQ(vals(o.q_segment_pos), (V{0, 1, 2, 0, 1, 0, 1, 2, 3, 4, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(vals(o.q_seqlens), (V{3, 2, 3, 2}));
  EXPECT_EQ(vals(o.q_offsets), (V{0, 3, 5, 10, -1}));

  auto bshd = self_attn({{1, 1, 1, 1, 1, 1, 1, 0, 0}}, 1, AttnMask::padding);
  bshd.layout = QkvLayout::bshd;
  o = run(bshd);
  EXPECT_EQ(vals(o.q_segment_pos), (V{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(vals(o.q_seqlens), (V{7}));
  EXPECT_EQ(o.q_offsets.numel(), 0);
  bshd.mask = AttnMask::causal;  // not a padding mask: every token counts
  EXPECT_EQ(vals(run(bshd).kv_seqlens), (V{9}));
}

TEST(SegmentSeqlensOffsets, GoldenDefaultThdPositions) {
  EXPECT_EQ(vals(run(self_attn({{0, 0, 1, 1, 2, 2, 2, 0}}, 3)).q_segment_pos), (V{0, 1, 0, 1, 0, 1, 2, 0}));
  EXPECT_EQ(vals(run(self_attn({{1, 1, 2, 2, 2, 0}, {1, 1, 1, 1, 0, 0}}, 3)).q_segment_pos),
            (V{0, 1, 0, 1, 2, 0, 0, 1, 2, 3, 0, 0}));
}

TEST(SegmentSeqlensOffsets, GoldenStripedContextParallelCausal) {
  // Upstream-stated (HEAD _get_seqlens_offsets_thd comment), S = 2.
  SegmentSeqlensCase c = self_attn({{1, 1, 2, 2}}, 2, AttnMask::causal);
  c.q_segment_pos = t2({{0, 2, 0, 2}});
  c.kv_segment_pos = t2({{1, 3, 1, 3}});
  const auto o = run(c);
  EXPECT_EQ(vals(o.q_seqlens), (V{1, 1}));
  EXPECT_EQ(vals(o.kv_seqlens), (V{1, 1}));
  EXPECT_EQ(vals(o.q_offsets), (V{1, 3, -1}));
  EXPECT_EQ(vals(o.kv_offsets), (V{0, 2, -1}));
}

TEST(SegmentSeqlensOffsets, GoldenBottomRightCausal) {
  // Upstream-stated BRCM mask (d32 comment), derived slow-path seqlens; top-left causal on the same input.
  SegmentSeqlensCase c;
  c.mask = AttnMask::padding_causal_bottom_right;
  c.max_segments_per_seq = 2;
  c.q_segment_ids = t2({{1, 1, 1, 0, 2, 2, 2, 2}});
  c.q_segment_pos = t2({{0, 1, 2, 3, 0, 1, 2, 3}});
  c.kv_segment_ids = t2({{1, 1, 1, 1, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}});
  c.kv_segment_pos = t2({{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
  auto o = run(c);
  EXPECT_EQ(vals(o.q_seqlens), (V{3, 4}));
  EXPECT_EQ(vals(o.kv_seqlens), (V{4, 10}));
  EXPECT_EQ(vals(o.q_offsets), (V{0, 4, -1}));
  EXPECT_EQ(vals(o.kv_offsets), (V{0, 6, -1}));
  c.mask = AttnMask::causal;
  EXPECT_EQ(vals(run(c).kv_seqlens), (V{3, 4}));
  EXPECT_EQ(reference::run_length_fill(V{1, 1, 2, 2, 2, 0, 3, 0, 4, 4, 4, 4, 4, 0, 0, 0}),
            (V{2, 2, 3, 3, 3, 0, 1, 0, 5, 5, 5, 5, 5, 0, 0, 0}));
}

TEST(SegmentSeqlensOffsets, GoldenDerivedEdges) {
  // Too few segment slots: id 3 dropped from seqlens, but all three runs kept in offsets.
  auto o = run(self_attn({{1, 1, 2, 3, 3, 0}}, 2));
  EXPECT_EQ(vals(o.q_seqlens), (V{2, 1}));
  EXPECT_EQ(vals(o.q_offsets), (V{0, 2, 3}));

  // Padding-only: segments absent on the other side vanish.
  SegmentSeqlensCase c;
  c.mask = AttnMask::padding;
  c.max_segments_per_seq = 3;
  c.q_segment_ids = t2({{1, 1, 0, 2}});
  c.kv_segment_ids = t2({{1, 1, 1, 3}});
  o = run(c);
  EXPECT_EQ(vals(o.q_seqlens), (V{2, 0, 0}));
  EXPECT_EQ(vals(o.kv_seqlens), (V{3, 0, 0}));
  EXPECT_EQ(vals(o.q_offsets), (V{0, -1, -1, -1}));
  EXPECT_EQ(vals(o.kv_offsets), (V{0, -1, -1, -1}));

  // Top-left causal cross-attention (slow path).
  c.mask = AttnMask::causal;
  c.q_segment_ids = t2({{1, 1, 2, 2, 2, 0}});
  c.q_segment_pos = t2({{0, 1, 0, 1, 2, 0}});
  c.kv_segment_ids = t2({{1, 1, 1, 1, 2, 2, 2, 2}});
  c.kv_segment_pos = t2({{0, 1, 2, 3, 0, 1, 2, 3}});
  o = run(c);
  EXPECT_EQ(vals(o.q_seqlens), (V{2, 3, 0}));
  EXPECT_EQ(vals(o.kv_seqlens), (V{2, 3, 0}));
  EXPECT_EQ(vals(o.q_offsets), (V{0, 2, -1, -1}));
  EXPECT_EQ(vals(o.kv_offsets), (V{0, 4, -1, -1}));
}

TEST(SegmentSeqlensOffsets, ExtraBatchDimsBroadcastUnbatchedPositions) {
  // #2692: ids (E, B, T), positions (B, T) -> outputs (E, B, S) / (E, B, S+1), each slice with the shared pos.
  SegmentSeqlensCase c;
  c.mask = AttnMask::causal;
  c.max_segments_per_seq = 2;
  c.q_segment_ids = Tensor::from<int32_t>({2, 1, 4}, {1, 1, 2, 2, 1, 1, 1, 1});
  c.kv_segment_ids = c.q_segment_ids;
  c.q_segment_pos = t2({{0, 2, 0, 2}});
  c.kv_segment_pos = t2({{1, 3, 1, 3}});
  const auto o = run(c);
  EXPECT_EQ(o.q_seqlens.shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(o.q_offsets.shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(vals(o.q_segment_pos), (V{0, 2, 0, 2, 0, 2, 0, 2}));
  EXPECT_EQ(vals(o.kv_segment_pos), (V{1, 3, 1, 3, 1, 3, 1, 3}));
  // slice 0 is the striped example; slice 1 is one segment with positions 0,2,0,2 / 1,3,1,3: q tokens at
  // position 2 see kv position 1, kv tokens at position 1 are seen.
  EXPECT_EQ(vals(o.q_seqlens), (V{1, 1, 2, 0}));
  EXPECT_EQ(vals(o.kv_seqlens), (V{1, 1, 2, 0}));
  EXPECT_EQ(vals(o.q_offsets), (V{1, 3, -1, 1, 3, -1}));
  EXPECT_EQ(vals(o.kv_offsets), (V{0, 2, -1, 0, 2, -1}));
}

TEST(SegmentSeqlensOffsets, ErrorEmptyExtraShapeOnOneSide) {
  SegmentSeqlensCase c = self_attn({{1, 1, 2, 2}}, 2);
  c.q_segment_ids = Tensor::from<int32_t>({1, 1, 4}, {1, 1, 2, 2});
  expect_error(c, "case.kv_segment_ids", "empty extra batch shape while q_segment_ids has extra batch dims [1]");
  std::swap(c.q_segment_ids, c.kv_segment_ids);
  expect_error(c, "case.q_segment_ids", "empty extra batch shape while kv_segment_ids has extra batch dims [1]");
}

TEST(SegmentSeqlensOffsets, ErrorDifferentQAndKvExtraShapes) {
  SegmentSeqlensCase c = self_attn({{1}}, 1);
  c.q_segment_ids = Tensor(DType::i32, {2, 3, 1, 4});
  c.kv_segment_ids = Tensor(DType::i32, {3, 2, 1, 4});  // same product, different shape
  expect_error(c, "case.kv_segment_ids", "extra batch dims [3,2] differ from q_segment_ids' [2,3]");
  c.kv_segment_ids = Tensor(DType::i32, {4, 1, 4});
  expect_error(c, "case.kv_segment_ids", "extra batch dims [4] differ from q_segment_ids' [2,3]");
}

TEST(SegmentSeqlensOffsets, ErrorIdsWithFewerDimsThanPositions) {
  SegmentSeqlensCase c = self_attn({{1, 1, 2, 2}}, 2);
  c.q_segment_pos = Tensor(DType::i32, {1, 1, 4});
  expect_error(c, "case.q_segment_pos", "segment ids must not have fewer dims than segment positions");
}

TEST(SegmentSeqlensOffsets, ErrorMismatchedTrailingShapes) {
  SegmentSeqlensCase c = self_attn({{1, 1, 2, 2}}, 2);
  c.kv_segment_pos = Tensor(DType::i32, {1, 5});
  expect_error(c, "case.kv_segment_pos", "trailing shape must match kv_segment_ids i32[1,4] (expected [1,4])");
  c.kv_segment_pos = Tensor();
  c.q_segment_ids = Tensor::from<int32_t>({2, 1, 4}, {1, 1, 2, 2, 1, 1, 2, 2});
  c.kv_segment_ids = c.q_segment_ids;
  c.q_segment_pos = Tensor(DType::i32, {3, 1, 4});  // extra dim not a suffix of the ids' extra dims
  expect_error(c, "case.q_segment_pos", "trailing shape must match q_segment_ids i32[2,1,4] (expected [2,1,4])");
}

TEST(SegmentSeqlensOffsets, ErrorOtherBadInput) {
  SegmentSeqlensCase c = self_attn({{1, -1}}, 2);
  expect_error(c, "case.q_segment_ids[1]", "segment ids must be >= 0");
  c = self_attn({{1, 1}}, 0);
  expect_error(c, "case.max_segments_per_seq", "must be in [1, 4096]");
  c = self_attn({{1, 1}}, 1);
  c.kv_segment_ids = t2({{1, 1}, {1, 1}});
  expect_error(c, "case.kv_segment_ids", "batch dim must equal q_segment_ids' 1");
  c.kv_segment_ids = Tensor::from<int32_t>({2}, {1, 1});
  expect_error(c, "case.kv_segment_ids", "must have rank >= 2");
}

TEST(SegmentSeqlensOffsets, ZeroSizedExtraDim) {
  SegmentSeqlensCase c = self_attn({{1}}, 2);
  c.q_segment_ids = Tensor(DType::i32, {0, 2, 4});
  c.kv_segment_ids = Tensor(DType::i32, {0, 2, 3});
  c.q_segment_pos = Tensor(DType::i32, {2, 4});
  const auto o = run(c);
  EXPECT_EQ(o.q_seqlens.shape(), (Shape{0, 2, 2}));
  EXPECT_EQ(o.kv_offsets.shape(), (Shape{0, 2, 3}));
}
