// Unit tests of `kv_sharing` (reference/kvcache/kv_sharing.h, device/kvcache/kv_sharing.h): the spec's worked
// example of the §6.2 metadata transform, the §2.5 source-layer rule with sglang's ValueError, pure decode,
// the validation errors, and "a shared layer writes nothing" — each on both sides.
#include <gtest/gtest.h>

#include "core/data.h"
#include "core/error.h"
#include "device/core/faults.h"
#include "device/kvcache/kv_sharing.h"
#include "device/kvcache/kv_sharing_kernel.h"
#include "reference/kvcache/kv_sharing.h"

using namespace lockstep;

namespace {

std::vector<int32_t> ints(const Tensor& t) {
  std::vector<int32_t> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<int32_t>(t.get_int(i)));
  return v;
}

/// A valid case: the given layer types / shared count / batch, 1 KV head, D = 2, page 4, private pages.
KvSharingCase make_case(std::vector<int32_t> types, int64_t shared, std::vector<int32_t> qsl,
                        std::vector<int32_t> seq_lens, std::vector<int32_t> li_padded, int64_t n) {
  KvSharingCase c;
  const int64_t L = static_cast<int64_t>(types.size()), R = static_cast<int64_t>(seq_lens.size());
  c.dtype = DType::f32;
  c.num_layers = L;
  c.num_kv_shared_layers = shared;
  c.num_reqs = R;
  c.num_q_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 2;
  c.page_size = 4;
  c.sliding_window = 5;
  c.sm_scale = 0.7;
  c.num_logits_indices = n;
  int32_t max_q = 0;
  std::vector<int32_t> cu_kv(static_cast<size_t>(R + 1), 0), pages;
  for (int64_t r = 0; r < R; ++r) {
    max_q = std::max(max_q, qsl[r + 1] - qsl[r]);
    const int32_t np = (seq_lens[r] + 3) / 4;
    cu_kv[r + 1] = cu_kv[r] + 4 * np;
    for (int32_t p = 0; p < np; ++p) pages.push_back(static_cast<int32_t>(pages.size()));
  }
  c.max_query_len = max_q;
  const int64_t P = static_cast<int64_t>(pages.size()) + 1, T = qsl[R];
  std::reverse(pages.begin(), pages.end());  // scattered: request 0 owns the last pages
  if (pages.empty()) pages.push_back(0);
  c.layer_types = Tensor::from<int32_t>({L}, types);
  c.query_start_loc = Tensor::from<int32_t>({R + 1}, qsl);
  c.seq_lens = Tensor::from<int32_t>({R}, seq_lens);
  c.logits_indices_padded = Tensor::from<int32_t>({static_cast<int64_t>(li_padded.size())}, li_padded);
  c.cu_kv_lens = Tensor::from<int32_t>({R + 1}, cu_kv);
  c.page_indices = Tensor::from<int32_t>({static_cast<int64_t>(pages.size())}, pages);
  c.q = Tensor(c.dtype, {L, T, 2, 2});
  c.k = Tensor(c.dtype, {L, T, 1, 2});
  c.v = Tensor(c.dtype, {L, T, 1, 2});
  c.kv_cache = Tensor(c.dtype, {L, P, 4, 2, 2});
  fill_uniform(c.q, 1, 1.0);
  fill_uniform(c.k, 2, 1.0);
  fill_uniform(c.v, 3, 1.0);
  fill_uniform(c.kv_cache, 4, 1.0);
  return c;
}

/// The spec's worked example (§6.2): num_reqs=3, li=[14,18,19,27], query_start_loc=[0,15,20,28],
/// seq_lens=[41,31,40]; two padding entries after n = 4.
KvSharingCase worked_example(std::vector<int32_t> types = {0, 1, 0, 1}, int64_t shared = 2) {
  return make_case(types, shared, {0, 15, 20, 28}, {41, 31, 40}, {14, 18, 19, 27, 0, 99}, 4);
}

template <class F>
void on_both_sides(const KvSharingCase& c, F check) {
  check(reference::kv_sharing(c), "reference");
  check(device::kv_sharing(c), "device");
}

std::string error_of(const KvSharingCase& c) {
  try {
    validate(c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(KvSharing, PinsTheSpecsWorkedExample) {
  on_both_sides(worked_example(), [](const KvSharingOutputs& o, const char* side) {
    SCOPED_TRACE(side);
    EXPECT_EQ(ints(o.request_ids), (std::vector<int32_t>{0, 1, 1, 2}));
    EXPECT_EQ(ints(o.query_start_loc), (std::vector<int32_t>{0, 1, 3, 4}));
    EXPECT_EQ(o.num_actual_tokens, 4);
    EXPECT_EQ(o.max_query_len, 2);
    EXPECT_EQ(ints(o.seq_lens), (std::vector<int32_t>{41, 31, 40}));  // unchanged
    EXPECT_EQ(o.num_reqs, 3);
    EXPECT_EQ(o.max_seq_len, 41);
  });
}

// §2.5: types S S F S | S F (first_shared = 4): layer 4 reads 3 (the LAST sliding layer before 4, not 0 or 1),
// layer 5 reads 2. The wrong-source fault (nearest earlier layer) gives 3 for both.
TEST(KvSharing, SourceLayerIsTheLastEarlierLayerOfTheSameType) {
  const KvSharingCase c = make_case({0, 0, 1, 0, 0, 1}, 2, {0, 3}, {5}, {2}, 1);
  on_both_sides(c, [](const KvSharingOutputs& o, const char* side) {
    SCOPED_TRACE(side);
    EXPECT_EQ(ints(o.kv_source), (std::vector<int32_t>{-1, -1, -1, -1, 3, 2}));
    EXPECT_EQ(o.config_error, "");
  });
  device::Options f;
  f.fault = device::kKvShareFaultWrongSourceLayer;
  EXPECT_EQ(ints(device::kv_sharing(c, f).kv_source), (std::vector<int32_t>{-1, -1, -1, -1, 3, 3}));
}

// sglang's ValueError, rendered as its f-string does (Python's set repr; the set holds at most the other type).
TEST(KvSharing, UnmatchedSharedLayerTypeIsSglangsValueError) {
  on_both_sides(make_case({0, 0, 1}, 1, {0, 3}, {5}, {2}, 1), [](const KvSharingOutputs& o, const char* side) {
    SCOPED_TRACE(side);
    EXPECT_EQ(ints(o.kv_source), (std::vector<int32_t>{-1, -1, -2}));
    EXPECT_EQ(o.config_error,
              "KV sharing layer 2 has type 'full_attention' but no matching type found in layers 0..1. "
              "Available types: {'sliding_attention'}");
    EXPECT_TRUE(o.out.empty() && o.kv_cache.empty() && o.slot_writes.empty());
    EXPECT_EQ(ints(o.query_start_loc), (std::vector<int32_t>{0, 1}));  // the metadata still is computed
  });
  on_both_sides(make_case({1, 0}, 2, {0, 3}, {5}, {2}, 1), [](const KvSharingOutputs& o, const char* side) {
    SCOPED_TRACE(side);
    EXPECT_EQ(ints(o.kv_source), (std::vector<int32_t>{-2, -2}));
    EXPECT_EQ(o.config_error,
              "KV sharing layer 0 has type 'full_attention' but no matching type found in layers 0..-1. "
              "Available types: set()");
  });
}

TEST(KvSharing, PureDecodeBatchKeepsItsMetadata) {
  // Request 1 is idle (no scheduled token); max_query_len == 1.
  on_both_sides(make_case({0, 0}, 1, {0, 1, 1, 2}, {7, 3, 1}, {0, 1, 5}, 2),
                [](const KvSharingOutputs& o, const char* side) {
                  SCOPED_TRACE(side);
                  EXPECT_EQ(ints(o.query_start_loc), (std::vector<int32_t>{0, 1, 1, 2}));
                  EXPECT_EQ(o.request_ids.numel(), 0);
                  EXPECT_EQ(o.num_actual_tokens, 2);
                  EXPECT_EQ(o.max_query_len, 1);
                });
}

TEST(KvSharing, SharedLayersWriteNothing) {
  const KvSharingCase c = worked_example();
  on_both_sides(c, [&](const KvSharingOutputs& o, const char* side) {
    SCOPED_TRACE(side);
    const int64_t T = c.num_tokens();
    for (int64_t l = 0; l < 4; ++l)
      for (int64_t t = 0; t < T; ++t) EXPECT_EQ(o.slot_writes.get_int(l * T + t) >= 0, l < 2) << l << " " << t;
    // The shared layers' own caches are untouched.
    EXPECT_EQ(kv_sharing_layer(o.kv_cache, 2), kv_sharing_layer(c.kv_cache, 2));
    EXPECT_EQ(kv_sharing_layer(o.kv_cache, 3), kv_sharing_layer(c.kv_cache, 3));
    // Token 14 of request 0 (position 40) landed in layer 0's cache at its slot.
    const int64_t slot = kv_sharing_slot(c, 0, 40);
    EXPECT_EQ(o.slot_writes.get_int(14), slot);
    EXPECT_EQ(o.kv_cache.get((slot * 2) * 2), c.k.get(14 * 2));
  });
  device::Options f;
  f.fault = device::kKvShareFaultSharedLayerWritesCache;
  const KvSharingOutputs bad = device::kv_sharing(c, f), ref = reference::kv_sharing(c);
  EXPECT_NE(bad.kv_cache, ref.kv_cache);
  EXPECT_EQ(bad.slot_writes.get_int(2 * c.num_tokens() + 14), kv_sharing_slot(c, 0, 40));
}

// §6.3 on the worked example: shared layer 2 (sliding, source 0) over the reduced block equals rows li of the
// full pass over its own KV set to what layer 0 wrote.
TEST(KvSharing, ReducedBlockEqualsTheFullPassRows) {
  const KvSharingCase c = worked_example();
  const KvSharingOutputs o = reference::kv_sharing(c);
  for (int64_t layer : {2, 3}) {
    const Tensor full = reference::kv_sharing_full_pass(c, layer, layer - 2);
    const int32_t li[] = {14, 18, 19, 27};
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t e = 0; e < 4; ++e)
        EXPECT_NEAR(o.out.get((layer * c.num_tokens() + k) * 4 + e), full.get(li[k] * 4 + e), 1e-6);
  }
}

TEST(KvSharing, RejectsLogitsIndicesTheTransformCannotServe) {
  EXPECT_NE(error_of(make_case({0}, 0, {0, 15, 20, 28}, {41, 31, 40}, {14, 19, 18, 27}, 4))
                .find("case.logits_indices_padded[2] = 18: logits indices must be sorted strictly ascending"),
            std::string::npos);
  EXPECT_NE(error_of(make_case({0}, 0, {0, 15, 20, 28}, {41, 31, 40}, {14, 17, 19, 27}, 4))
                .find("case.logits_indices_padded[1] = 17: request 1's logits indices must form a contiguous "
                      "suffix of its tokens [15, 20) (expected 18"),
            std::string::npos);
  EXPECT_NE(error_of(make_case({0}, 0, {0, 1, 2}, {3, 4}, {1}, 1)).find("every scheduled token needs a logits index"),
            std::string::npos);
  EXPECT_NE(error_of(make_case({0}, 0, {0, 15}, {20}, {14}, 0)).find("case.num_logits_indices = 0"),
            std::string::npos);
  EXPECT_NE(error_of(make_case({0}, 0, {0, 15}, {20}, {15}, 1)).find("must be a scheduled token row in [0, 15)"),
            std::string::npos);
  EXPECT_NE(error_of(make_case({2}, 0, {0, 15}, {20}, {14}, 1)).find("case.layer_types[0] = 2"), std::string::npos);
  EXPECT_EQ(error_of(worked_example()), "");
}

// Two requests whose new tokens would land in the same cache slots: the write order would decide the cache.
TEST(KvSharing, RejectsNewTokensSharingACacheSlot) {
  KvSharingCase c = make_case({0}, 0, {0, 4, 8}, {4, 4}, {3, 7}, 2);
  c.page_indices = Tensor::from<int32_t>({2}, {0, 0});
  EXPECT_NE(error_of(c).find("case.page_indices[0] = 0: the slot 0 of request 0's new token at position 0 is also "
                             "another live position's"),
            std::string::npos)
      << error_of(c);
}
