// Properties of ragged paged attention (ctest label: property). Each case is drawn by the same
// generators `lockstep fuzz` uses; failures shrink and print the canonical case string.
#include <algorithm>
#include <climits>
#include <cmath>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "attention/rpa_test_util.h"
#include "core/oob_reads.h"
#include "device/attention/ragged_paged_attention.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "oracle/op.h"
#include "oracle/report.h"
#include "reference/attention/ragged_paged_attention.h"

using namespace lockstep;

namespace {

const oracle::Op& op() { return oracle::find_op("ragged_paged_attention"); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.get(i) - b.get(i)));
  return m;
}

}  // namespace

RC_GTEST_PROP(RaggedPagedAttention, DeviceMatchesReferenceInEveryMode, ()) {
  const fuzz::RpaSpec spec = *fuzz::gen_rpa_spec();
  const RpaCase c = fuzz::materialize(spec);
  RC_TAG(enum_name(c.mode), dtype_name(c.dtype), spec.scale_mult);  // every dtype and logit level (issue 9)
  const auto r = op().run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

RC_GTEST_PROP(RaggedPagedAttention, SegmentModeEqualsDenseMode, ()) {
  const fuzz::RpaSpec spec = *fuzz::gen_rpa_multi_item_spec();
  const RpaCase seg = fuzz::materialize(spec, MaskMode::segment);
  const RpaCase dense = fuzz::materialize(spec, MaskMode::dense);
  const auto ds = device::ragged_paged_attention(seg).out;
  const auto dd = device::ragged_paged_attention(dense).out;
  RC_ASSERT(max_abs_diff(ds, dd) <= 1e-4);  // the seed's criterion
  const auto rs = reference::ragged_paged_attention(seg).out;
  const auto rd = reference::ragged_paged_attention(dense).out;
  RC_ASSERT(max_abs_diff(rs, rd) <= 1e-4);
}

RC_GTEST_PROP(RaggedPagedAttention, BatchedRunEqualsEachSequenceAlone, ()) {
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  const auto batched = device::ragged_paged_attention(c).out;
  const int64_t row = c.num_q_heads * c.head_dim;
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const RpaCase one = fuzz::single_sequence(c, i);
    const auto alone = device::ragged_paged_attention(one).out;
    const int64_t q0 = c.cu_q_lens.get_int(i);
    for (int64_t e = 0; e < alone.numel(); ++e) {
      RC_ASSERT(alone.get(e) == batched.get(q0 * row + e));  // same tiles, same order: bit-identical
    }
  }
}

RC_GTEST_PROP(RaggedPagedAttention, OutOfRangePageInsideReadWindowIsReported, ()) {
  fuzz::RpaSpec spec = *fuzz::gen_rpa_spec();
  spec.mode = MaskMode::causal;
  for (auto& s : spec.seqs) s.multi_item = false;
  RpaCase c = fuzz::materialize(spec);
  // Pick a sequence and a key position inside its read window [window_start, kv_len).
  const int64_t i = *rc::gen::inRange<int64_t>(0, c.num_seqs);
  const int32_t lo = rpa_window_start(c, i), kv = c.kv_len(i);
  RC_PRE(kv > lo);
  const int32_t p = *rc::gen::inRange(lo, kv);
  const int64_t slot = c.cu_kv_lens.get_int(i) / c.page_size + p / c.page_size;
  const int32_t bad = *rc::gen::element(-1, static_cast<int32_t>(c.kv_cache.dim(0)), INT_MAX, INT_MIN);
  c.page_indices.span<int32_t>()[slot] = bad;
  const auto d = device::ragged_paged_attention(c);  // must not crash
  const std::vector<OobRead> reads = oob_list(d.oob_reads);
  const bool found = std::any_of(reads.begin(), reads.end(), [&](const OobRead& o) {
    return o.seq == i && o.slot == slot && o.page == bad && o.bound == c.kv_cache.dim(0) &&
           o.token == p - p % c.page_size;
  });
  RC_ASSERT(found);
  // The oracle turns it into a failure naming the slot.
  const auto r = op().run(std::any(c), {});
  RC_ASSERT_FALSE(r.report.passed);
}

RC_GTEST_PROP(RaggedPagedAttention, EntriesPastKvLenAreNeverRead, ()) {
  fuzz::RpaSpec spec = *fuzz::gen_rpa_spec();
  for (auto& s : spec.seqs) s.slack_pages = std::max(s.slack_pages, 1);
  RpaCase c = fuzz::materialize(spec);
  auto pages = c.page_indices.span<int32_t>();
  std::vector<bool> live(pages.size(), false);
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const int64_t first = c.cu_kv_lens.get_int(i) / c.page_size;
    for (int64_t k = 0; k < (c.kv_len(i) + c.page_size - 1) / c.page_size; ++k) live[first + k] = true;
  }
  for (size_t s = 0; s < pages.size(); ++s)
    if (!live[s]) pages[s] = INT_MAX;  // every trailing / padded entry is poison
  const auto d = device::ragged_paged_attention(c);
  RC_ASSERT(d.oob_reads.numel() == 0);
  RC_ASSERT(reference::ragged_paged_attention(c).oob_reads.numel() == 0);
}

TEST(RaggedPagedAttention, SegmentMetadataGrowsLinearlyDenseQuadratically) {
  std::vector<int64_t> seg_bytes, dense_bytes;
  const std::vector<int32_t> sizes{256, 512, 1024, 2048};
  for (int32_t n : sizes) {
    auto spec = lockstep::testing::simple_spec({});
    spec.head_dim = 8;
    spec.block_q = 16;
    // query 7 tokens + items of 7 tokens: n total tokens (n is a multiple of 8)
    spec.seqs.push_back(lockstep::testing::multi_item_seq(7, std::vector<int32_t>(n / 8 - 1, 7)));
    ASSERT_EQ(spec.seqs[0].q_len, n);
    const RpaCase seg = fuzz::materialize(spec, MaskMode::segment);
    const RpaCase dense = fuzz::materialize(spec, MaskMode::dense);
    seg_bytes.push_back(device::rpa_blocked_metadata(seg).segment_bytes(seg.padded_seqs()));
    dense_bytes.push_back(static_cast<int64_t>(dense.custom_mask.nbytes()));
  }
  for (size_t k = 1; k < sizes.size(); ++k) {
    const double ratio = static_cast<double>(sizes[k]) / sizes[0];
    EXPECT_LE(static_cast<double>(seg_bytes[k]) / seg_bytes[0], ratio * 1.05) << sizes[k];
    EXPECT_DOUBLE_EQ(static_cast<double>(dense_bytes[k]) / dense_bytes[0], ratio * ratio) << sizes[k];
  }
}
