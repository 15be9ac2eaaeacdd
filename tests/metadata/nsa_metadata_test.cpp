// Golden vectors of shared/spec/attention-metadata.md §3.5 (topk 2048) and decision 6, for the
// reference and the device kernel.
#include <gtest/gtest.h>

#include "core/error.h"
#include "device/metadata/nsa_metadata.h"
#include "reference/metadata/nsa_metadata.h"

using namespace lockstep;

namespace {

using V = std::vector<int32_t>;

V vals(const Tensor& t, int64_t n = -1) {
  auto s = t.span<int32_t>();
  return V(s.begin(), n < 0 ? s.end() : s.begin() + n);
}

/// Two requests with page-table rows r0 = {100, 101, 102, 103}, r1 = {200, 201, 202, 203}.
NsaCase make(NsaMode mode, V seq_lens, int64_t max_tokens) {
  NsaCase c;
  c.mode = mode;
  c.topk = 2048;
  c.max_tokens = max_tokens;
  const int64_t bs = static_cast<int64_t>(seq_lens.size());
  c.seq_lens = Tensor::from<int32_t>({bs}, seq_lens);
  V pt;
  for (int64_t r = 0; r < bs; ++r)
    for (int w = 0; w < 4; ++w) pt.push_back(static_cast<int32_t>(100 * (r + 1) + w));
  c.page_table = Tensor::from<int32_t>({bs, 4}, pt);
  return c;
}

NsaOutputs run(const NsaCase& c) {
  const auto ref = reference::nsa_metadata(c);
  for (int64_t bt : {1, 2, 3, 128}) {
    NsaCase d = c;
    d.block_tokens = bt;
    EXPECT_EQ(first_difference(ref, device::nsa_metadata(d)), "") << "block_tokens " << bt;
  }
  return ref;
}

V rows(const NsaOutputs& o, int64_t n) {  // first page-table column of the first n rows
  V v;
  for (int64_t t = 0; t < n; ++t) v.push_back(o.page_table_1.span<int32_t>()[t * o.page_table_1.dim(1)]);
  return v;
}

}  // namespace

TEST(NsaMetadata, GoldenDecode) {
  const auto o = run(make(NsaMode::decode, {5, 3000}, 2));
  EXPECT_EQ(vals(o.num_tokens), (V{2}));
  EXPECT_EQ(vals(o.cache_seqlens), (V{5, 3000}));
  EXPECT_EQ(vals(o.cu_seqlens_k), (V{0, 5, 3005}));
  EXPECT_EQ(vals(o.seqlens_expanded), (V{5, 3000}));
  EXPECT_EQ(vals(o.nsa_cache_seqlens), (V{5, 2048}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_k), (V{0, 5, 2053}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_q), (V{0, 1, 2}));
  EXPECT_EQ(rows(o, 2), (V{100, 200}));
}

TEST(NsaMetadata, GoldenTargetVerify) {
  NsaCase c = make(NsaMode::target_verify, {5, 2047}, 6);
  c.draft_tokens = 3;
  const auto o = run(c);
  EXPECT_EQ(vals(o.cache_seqlens), (V{8, 2050}));
  EXPECT_EQ(vals(o.cu_seqlens_k), (V{0, 8, 2058}));
  EXPECT_EQ(vals(o.seqlens_expanded), (V{6, 7, 8, 2048, 2049, 2050}));
  EXPECT_EQ(vals(o.nsa_cache_seqlens), (V{6, 7, 8, 2048, 2048, 2048}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_k), (V{0, 6, 13, 21, 2069, 4117, 6165}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_q), (V{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(rows(o, 6), (V{100, 100, 100, 200, 200, 200}));
}

TEST(NsaMetadata, GoldenDraftExtendReplay) {
  NsaCase c = make(NsaMode::draft_extend, {10, 4}, 8);  // buffers larger than the 5 real tokens
  c.extend_lens = Tensor::from<int32_t>({2}, {2, 3});
  const auto o = run(c);
  EXPECT_EQ(vals(o.num_tokens), (V{5}));
  EXPECT_EQ(vals(o.cache_seqlens), (V{10, 4}));
  EXPECT_EQ(vals(o.cu_seqlens_k), (V{0, 10, 14}));
  EXPECT_EQ(vals(o.seqlens_expanded, 5), (V{9, 10, 2, 3, 4}));
  EXPECT_EQ(vals(o.nsa_cache_seqlens, 5), (V{9, 10, 2, 3, 4}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_k, 6), (V{0, 9, 19, 21, 24, 28}));
  EXPECT_EQ(rows(o, 5), (V{100, 100, 200, 200, 200}));
  // Past N every buffer is 0.
  EXPECT_EQ(vals(o.seqlens_expanded), (V{9, 10, 2, 3, 4, 0, 0, 0}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_k), (V{0, 9, 19, 21, 24, 28, 0, 0, 0}));
  EXPECT_EQ(rows(o, 8), (V{100, 100, 200, 200, 200, 0, 0, 0}));
}

TEST(NsaMetadata, GoldenPaddedReplayRowAndClamp) {
  NsaCase c = make(NsaMode::draft_extend, {1}, 1);  // padded graph row: seq_len fill 1, accept 1
  c.extend_lens = Tensor::from<int32_t>({1}, {1});
  EXPECT_EQ(vals(run(c).seqlens_expanded), (V{1}));
  c = make(NsaMode::draft_extend, {10, 4, 7}, 9);  // an empty request between two others; small topk
  c.extend_lens = Tensor::from<int32_t>({3}, {3, 0, 4});
  c.topk = 5;
  const auto o = run(c);
  EXPECT_EQ(vals(o.seqlens_expanded, 7), (V{8, 9, 10, 4, 5, 6, 7}));
  EXPECT_EQ(vals(o.nsa_cache_seqlens, 7), (V{5, 5, 5, 4, 5, 5, 5}));
  EXPECT_EQ(vals(o.nsa_cu_seqlens_k, 8), (V{0, 5, 10, 15, 19, 24, 29, 34}));
  EXPECT_EQ(rows(o, 7), (V{100, 100, 100, 300, 300, 300, 300}));
}

TEST(NsaMetadata, RealPageTableTakesEveryPageSizeColumn) {
  NsaCase c = make(NsaMode::decode, {5, 6}, 2);
  c.page_size = 2;
  c.page_table = Tensor::from<int32_t>({2, 3}, {8, 9, 4, 20, 21, 22});
  const auto o = run(c);
  EXPECT_EQ(o.real_page_table.shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(o.real_page_table), (V{4, 2, 10, 11}));
}

TEST(NsaMetadata, KvShorterThanQoIsAnErrorNamingTheRequest) {
  // Spec §3.5: seq_len 1, qo 3 would give seqlens_expanded [-1, 0, 1] upstream; decision 6 rejects it.
  NsaCase c = make(NsaMode::draft_extend, {10, 1}, 8);
  c.extend_lens = Tensor::from<int32_t>({2}, {2, 3});
  for (auto fn : {+[](const NsaCase& x) { validate(x); }, +[](const NsaCase& x) { reference::nsa_metadata(x); },
                  +[](const NsaCase& x) { device::nsa_metadata(x); }}) {
    try {
      fn(c);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_EQ(e.field(), "case.seq_lens[1]");
      EXPECT_NE(std::string(e.what()).find("request 1 has kv_len 1 < qo_len 3"), std::string::npos) << e.what();
    }
  }
  c = make(NsaMode::decode, {3, 0}, 2);  // decode: one query token needs at least one key
  EXPECT_THROW(validate(c), Error);
}

TEST(NsaMetadata, OtherValidationErrors) {
  NsaCase c = make(NsaMode::draft_extend, {10, 4}, 4);
  c.extend_lens = Tensor::from<int32_t>({2}, {2, 3});
  EXPECT_THROW(validate(c), Error);  // 5 tokens do not fit 4 slots
  c.max_tokens = 5;
  c.extend_lens = Tensor();
  EXPECT_THROW(validate(c), Error);  // draft_extend needs extend_lens
  c = make(NsaMode::decode, {3}, 1);
  c.extend_lens = Tensor::from<int32_t>({1}, {1});
  EXPECT_THROW(validate(c), Error);  // extend_lens only in draft_extend
  c = make(NsaMode::target_verify, {3}, 1);
  EXPECT_THROW(validate(c), Error);  // draft_tokens 0
}

TEST(NsaMetadata, GoldenIndexerDocstringExpansion) {
  // Upstream-stated (_cal_indexer_k_start_end docstring, extend): extend_seq_len [3,2], seq_lens [10,4] ->
  // ke - ks = seqlens_expanded [8,9,10,3,4]; the same expansion as draft_extend.
  NsaCase c = make(NsaMode::draft_extend, {10, 4}, 5);
  c.extend_lens = Tensor::from<int32_t>({2}, {3, 2});
  EXPECT_EQ(vals(run(c).seqlens_expanded), (V{8, 9, 10, 3, 4}));
}
