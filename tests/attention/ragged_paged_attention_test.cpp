// Unit tests of the reference ragged paged attention: hand-computed values, the decisions of
// shared/spec/README.md, and validation errors that name the field.
#include <cmath>

#include <gtest/gtest.h>

#include "attention/rpa_test_util.h"
#include "core/error.h"
#include "core/oob_reads.h"
#include "device/attention/ragged_paged_attention.h"
#include "reference/attention/ragged_paged_attention.h"

using namespace lockstep;
using lockstep::testing::multi_item_seq;
using lockstep::testing::simple_spec;

namespace {

void expect_invalid(const RpaCase& c, const std::string& needle) {
  try {
    reference::ragged_paged_attention(c);
    FAIL() << "expected validation error containing: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_THROW(device::ragged_paged_attention(c), Error);
}

}  // namespace

TEST(RpaReference, HandComputedSoftmaxWithCachedPrefix) {
  // 1 sequence, 1 new token after 1 cached token; D = 1, one head. Scores 0 and ln 3 -> weights 1/4, 3/4.
  RpaCase c = fuzz::materialize(simple_spec({{1, 1}}, /*page=*/1, 1, 1, 1));
  const int64_t cached_row = c.page_indices.get_int(0);  // page of position 0 (page size 1)
  c.sm_scale = 1.0;
  c.q.set(0, 1.0);
  c.kv_cache.set(cached_row * 2 + 0, 0.0);  // K of position 0
  c.kv_cache.set(cached_row * 2 + 1, 0.0);  // V of position 0
  const float ln3 = std::log(3.0f);
  c.k.set(0, ln3);  // K of position 1 (the new token)
  c.v.set(0, 1.0);  // V of position 1
  const auto r = reference::ragged_paged_attention(c);
  const double e = std::exp(static_cast<double>(ln3));
  EXPECT_FLOAT_EQ(static_cast<float>(r.out.get(0)), static_cast<float>(e / (1 + e)));
  EXPECT_EQ(r.oob_reads.numel(), 0);
  // The new token's K/V were written into the cache at position 1.
  const int64_t new_row = c.page_indices.get_int(1);
  EXPECT_FLOAT_EQ(static_cast<float>(r.kv_cache.get(new_row * 2 + 0)), ln3);
  EXPECT_EQ(r.kv_cache.get(new_row * 2 + 1), 1.0);
}

TEST(RpaReference, CausalRowSeesPrefixPlusOwnPosition) {
  RpaCase c = fuzz::materialize(simple_spec({{3, 2}}));
  const auto allowed = reference::rpa_allowed(c, 0);  // (3, 5)
  const std::vector<uint8_t> want{1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
  EXPECT_EQ(allowed, want);
}

TEST(RpaReference, SlidingWindowKeepsExactlyWKeys) {
  auto spec = simple_spec({{4, 6}});
  spec.sliding_window = 3;
  RpaCase c = fuzz::materialize(spec);
  const auto allowed = reference::rpa_allowed(c, 0);  // (4, 10): row j at q_pos 6 + j sees (q_pos-3, q_pos]
  for (int j = 0; j < 4; ++j) {
    int count = 0;
    for (int p = 0; p < 10; ++p) {
      const bool in = p > 6 + j - 3 && p <= 6 + j;
      EXPECT_EQ(allowed[j * 10 + p], in) << j << "," << p;
      count += allowed[j * 10 + p];
    }
    EXPECT_EQ(count, 3);
  }
  EXPECT_EQ(rpa_window_start(c, 0), 4);
}

TEST(RpaReference, FullyMaskedRowOutputsZeros) {
  RpaCase c = fuzz::materialize(simple_spec({{2, 0}}), MaskMode::dense);
  auto m = c.custom_mask.span<int32_t>();
  m[0] = 0;  // row 0 of the (2, 2) mask: 0 0 -> fully masked
  m[1] = 0;
  const auto r = reference::ragged_paged_attention(c);
  for (int64_t i = 0; i < c.num_q_heads * c.head_dim; ++i) EXPECT_EQ(r.out.get(i), 0.0);
  const auto d = device::ragged_paged_attention(c);
  for (int64_t i = 0; i < c.num_q_heads * c.head_dim; ++i) EXPECT_EQ(d.out.get(i), 0.0);
}

TEST(RpaReference, SegmentModeEqualsDenseModeOnGoldenLayout) {
  auto spec = simple_spec({});
  spec.seqs.push_back(multi_item_seq(2, {2, 1}));  // tokens q q d i i d i d (golden B's shape)
  const RpaCase seg = fuzz::materialize(spec, MaskMode::segment);
  const RpaCase dense = fuzz::materialize(spec, MaskMode::dense);
  EXPECT_EQ(seg.prefix_end.get_int(0), 3);
  EXPECT_EQ(reference::rpa_allowed(seg, 0), reference::rpa_allowed(dense, 0));
  const auto a = reference::ragged_paged_attention(seg).out;
  const auto b = reference::ragged_paged_attention(dense).out;
  EXPECT_EQ(a, b);
}

TEST(RpaReference, OutOfRangePageIsReportedNotRead) {
  RpaCase c = fuzz::materialize(simple_spec({{1, 8}}));  // page 4: positions 0..7 cached in slots 0, 1
  c.page_indices.span<int32_t>()[1] = 1 << 20;
  const auto r = reference::ragged_paged_attention(c);
  const std::vector<OobRead> oob = oob_list(r.oob_reads);
  ASSERT_EQ(oob.size(), 1u);
  EXPECT_EQ(oob[0].seq, 0);
  EXPECT_EQ(oob[0].slot, 1);
  EXPECT_EQ(oob[0].token, 4);
  EXPECT_EQ(oob[0].page, 1 << 20);
  EXPECT_EQ(oob[0].bound, c.kv_cache.dim(0));
}

TEST(RpaValidation, ErrorsNameTheFieldAndValue) {
  const RpaCase good = fuzz::materialize(simple_spec({{3, 2}, {1, 4}}));
  EXPECT_NO_THROW(validate(good));
  {
    RpaCase c = good;
    c.kv_lens.span<int32_t>()[1] = 0;
    expect_invalid(c, "case.kv_lens[1] = 0: shorter than q_len 1");
  }
  {
    RpaCase c = good;
    c.kv_lens.span<int32_t>()[0] = -3;
    expect_invalid(c, "case.kv_lens[0] = -3: negative length");
  }
  {
    RpaCase c = good;
    c.kv_lens.span<int32_t>()[0] = 1 << 30;  // impossible length: rejected before anything is allocated
    expect_invalid(c, "case.kv_lens[0] = 1073741824: exceeds lockstep's limit");
  }
  {
    RpaCase c = good;
    c.num_kv_heads = 3;
    expect_invalid(c, "case.num_q_heads = 2: must be a multiple of num_kv_heads = 3");
  }
  {
    RpaCase c = good;
    c.q = Tensor(DType::f32, {c.q.dim(0), 2, 4});
    expect_invalid(c, "case.q");
  }
  {
    RpaCase c = good;
    c.cu_q_lens.span<int32_t>()[2] = 1000;
    expect_invalid(c, "case.cu_q_lens[2] = 1000: exceeds the token count");
  }
  {
    RpaCase c = fuzz::materialize(simple_spec({{2, 0}}), MaskMode::dense);
    c.custom_mask.span<int32_t>()[1] = 2;
    expect_invalid(c, "case.custom_mask[1] = 2: must be 0 (masked) or 1 (attend)");
  }
  {
    auto spec = simple_spec({});
    spec.seqs.push_back(multi_item_seq(1, {1}));
    RpaCase c = fuzz::materialize(spec, MaskMode::segment);
    c.kv_lens.span<int32_t>()[0] += 4;  // pretend a cached prefix: undefined for segment metadata
    c.cu_kv_lens.span<int32_t>()[1] = 8;  // two pages of 4: still inside page_indices
    expect_invalid(c, "segment mode requires no cached prefix");
  }
}
