// Unit tests of the KV memory reference model (reference/kvcache/pool.h) and pool sizing
// (reference/kvcache/pool_sizing.h): allocator arithmetic, mapping, eviction, the leak invariant and its
// message, and the four Gemma-4 layouts of spec README decision 10.
#include <gtest/gtest.h>

#include "core/error.h"
#include "device/core/faults.h"
#include "device/kvcache/pool_sizing.h"
#include "reference/kvcache/pool.h"
#include "reference/kvcache/pool_sizing.h"

using namespace lockstep;
using namespace lockstep::reference::kvcache;

TEST(PagedAllocator, ReservesPageZeroAndFillsPartialPagesFirst) {
  PagedAllocator a(16, 4);  // pages 1..4
  EXPECT_EQ(a.available_size(), 16);
  auto x = a.alloc_extend({0}, {6}, {-1});
  ASSERT_TRUE(x);
  EXPECT_EQ(*x, (std::vector<int64_t>{4, 5, 6, 7, 8, 9}));  // page 1 full, page 2 partial
  auto y = a.alloc_extend({6}, {11}, {9});                  // part1 fills 10, 11; part3 page 3: 12..14
  ASSERT_TRUE(y);
  EXPECT_EQ(*y, (std::vector<int64_t>{10, 11, 12, 13, 14}));
  EXPECT_EQ(a.available_size(), 4);
  auto z = a.alloc_decode({12}, {14});  // (12 - 1) % 4 != 0: same page
  ASSERT_TRUE(z);
  EXPECT_EQ(*z, (std::vector<int64_t>{15}));
  EXPECT_FALSE(a.alloc_extend({12}, {20}, {15}));  // two pages, one free: nothing consumed
  EXPECT_EQ(a.available_size(), 4);
  a.free({4, 5, 9});  // pages 1 and 2, prepended
  EXPECT_EQ(a.free_pages(), 3);
  auto w = a.alloc_extend({0}, {1}, {-1});
  EXPECT_EQ(*w, (std::vector<int64_t>{4}));
}

TEST(PagedAllocator, PageSizeOneIsTheTokenAllocator) {
  PagedAllocator a(3, 1);
  EXPECT_EQ(*a.alloc_extend({0}, {2}, {-1}), (std::vector<int64_t>{1, 2}));
  a.free({1});
  EXPECT_EQ(*a.alloc_decode({3}, {2}), (std::vector<int64_t>{3}));  // appended: 3 before 1
  EXPECT_EQ(*a.alloc_decode({4}, {3}), (std::vector<int64_t>{1}));
}

TEST(SwaAllocator, MappingMirrorsPagesAndEvictionZeroesIt) {
  SwaAllocator s(16, 8, 4);
  EXPECT_EQ(s.mapping().size(), 16u + 4 + 1);
  EXPECT_EQ(s.mapping().back(), -1);
  EXPECT_EQ(s.translate(-1), -1);
  auto f = s.alloc_extend({0}, {6}, {-1});
  ASSERT_TRUE(f);
  for (int64_t i : *f) EXPECT_EQ(s.translate(i) % 4, i % 4);  // same in-page offset
  EXPECT_EQ(s.available_size(), 0);                            // SWA: 2 pages used of 2
  EXPECT_FALSE(s.alloc_extend({6}, {9}, {(*f)[5]}));           // needs a page, SWA has none
  s.free_swa({(*f)[0], (*f)[1], (*f)[2], (*f)[3]});
  EXPECT_EQ(s.translate((*f)[0]), 0);
  EXPECT_EQ(s.swa_available_size(), 4);
  s.free(*f);
  EXPECT_EQ(s.full_available_size(), 16);
  EXPECT_EQ(s.swa_available_size(), 8);
  EXPECT_THROW(s.translate(16 + 4), Error);
}

TEST(SwaAllocator, DecodeChecksBothPoolsUnlessUpstreamOrder) {
  for (bool checks : {true, false}) {
    SwaAllocator s(8, 4, 4, PoolOptions{checks});
    auto f = s.alloc_extend({0}, {4}, {-1});
    ASSERT_TRUE(f);
    EXPECT_FALSE(s.alloc_decode({5}, {(*f)[3]}));  // full has a page, SWA none
    EXPECT_EQ(s.full_available_size(), checks ? 4 : 0) << "checks=" << checks;
  }
}

TEST(KvMemory, InvariantHoldsThroughALifecycleAndNamesEveryTerm) {
  KvMemory m(KvConfig{32, 16, 4, 5, 2, 32});
  auto a = m.add_request();
  ASSERT_TRUE(a);
  EXPECT_TRUE(m.extend(*a, 10));
  m.check_invariant();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(m.decode(*a));
  m.evict_swa(*a);  // kv 13, last q 1: pre_len 12, 12 - 5 = 7 -> page-aligned 4
  EXPECT_EQ(m.request(*a).swa_evicted, 4);
  EXPECT_EQ(m.allocator().translate(m.req_to_token().at(m.request(*a).slot, 0)), 0);
  m.check_invariant();
  const auto c = m.counters();
  EXPECT_EQ(c[0].describe(), "[full] total=32, available=16, evictable=0, protected=0, session_held=0, uncached=16");
  EXPECT_EQ(c[1].describe(), "[swa] total=16, available=4, evictable=0, protected=0, session_held=0, uncached=12");
  m.finish(*a);
  m.check_invariant();
  EXPECT_EQ(m.allocator().full_available_size(), 32);
  EXPECT_EQ(m.allocator().swa_available_size(), 16);
  PoolCounters bad{"full", 2138243, 2137945, 0, 274, 0, 0};
  try {
    check_pool_invariant({bad});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "pool: pool memory leak detected! [full] total=2138243, available=2137945, evictable=0, protected=274, "
              "session_held=0, uncached=0");
  }
}

TEST(KvMemory, FailedOperationsChangeNothing) {
  KvMemory m(KvConfig{8, 4, 4, 2, 1, 8});
  auto a = m.add_request();
  EXPECT_FALSE(m.add_request());      // one slot
  EXPECT_FALSE(m.decode(*a));         // nothing prefilled
  EXPECT_FALSE(m.extend(*a, 9));      // beyond max_context
  EXPECT_TRUE(m.extend(*a, 4));
  EXPECT_FALSE(m.extend(*a, 1));      // SWA pool exhausted
  EXPECT_EQ(m.request(*a).kv_len, 4);
  m.check_invariant();
}

namespace {
// Gemma-4 per-token bytes per layer (bf16, K and V): full layers 2 KV heads x (512 + 512), SWA layers
// 8 KV heads x (256 + 256): F = 4096, S = 8192 (decision 10: full layers store half the bytes of SWA ones).
PoolSizingCase gemma4(int64_t avail, int64_t n_full, int64_t n_swa, int64_t page, int64_t experts, double ratio) {
  PoolSizingCase c;
  c.available_bytes = avail;
  c.num_full_layers = n_full;
  c.num_swa_layers = n_swa;
  c.full_bytes_per_token = 4096;
  c.swa_bytes_per_token = 8192;
  c.page_size = page;
  c.num_experts = experts;
  c.ratio = ratio;
  return c;
}
// One available-memory figure per model (bytes of KV budget).
constexpr int64_t k26bAvail = int64_t{13364022} * 8192;  // 26B-A4B: 25 SWA + 5 full, page 1, MoE (128 experts)
constexpr int64_t k31bAvail = int64_t{5984720} * 8192;   // 31B dense: 50 SWA + 10 full, page 64
void expect_layout(const PoolSizingCase& c, int64_t full, int64_t swa) {
  const PoolSizingOutputs s = pool_sizing(c);
  EXPECT_EQ(s.tokens.get_int(0), full);
  EXPECT_EQ(s.tokens.get_int(1), swa);
  const PoolSizingOutputs d = device::pool_sizing(c);
  EXPECT_EQ(d.tokens.get_int(0), full);
  EXPECT_EQ(d.tokens.get_int(1), swa);
}
}  // namespace

TEST(PoolSizing, ReproducesTheFourGemma4Layouts) {
  expect_layout(gemma4(k26bAvail, 5, 25, 1, 128, 0.8), 593956, 475164);
  expect_layout(gemma4(k26bAvail, 5, 25, 1, 128, 0.15), 2138243, 320736);
  expect_layout(gemma4(k31bAvail, 10, 50, 64, 0, 0.8), 132992, 106368);
  expect_layout(gemma4(k31bAvail, 10, 50, 64, 0, 0.15), 478720, 71808);
}

TEST(PoolSizing, DefaultRatioIsMoeOnly) {
  EXPECT_EQ(default_swa_full_tokens_ratio(128), 0.15);
  EXPECT_EQ(default_swa_full_tokens_ratio(0), 0.8);
  expect_layout(gemma4(k26bAvail, 5, 25, 1, 128, 0), 2138243, 320736);  // MoE default 0.15
  expect_layout(gemma4(k31bAvail, 10, 50, 64, 0, 0), 132992, 106368);   // dense keeps 0.8
  // The seed's Patch 2 (0.15 for every Gemma-4) gives the dense model the broken layout.
  const PoolSizingOutputs bad =
      device::pool_sizing(gemma4(k31bAvail, 10, 50, 64, 0, 0),
                          {Backend::cpu, device::fault_id("pool_sizing", "moe_ratio_for_dense_model")});
  EXPECT_EQ(bad.tokens.get_int(0), 478720);
  EXPECT_EQ(bad.tokens.get_int(1), 71808);
}

// Spec §3.3's feasibility error defines which cases are valid, so it lives in the case's validate()
// (core/), which both sides call: the device side rejects the case too instead of returning sizes.
TEST(PoolSizing, APoolThatCannotHoldOneWindowIsInvalidOnBothSides) {
  PoolSizingCase c = gemma4(int64_t{1} << 26, 1, 1, 64, 0, 0.8);
  const int64_t swa = device::pool_sizing(c).tokens.get_int(1);  // no window: always valid
  ASSERT_EQ(swa, 4992);  // 2^26 // (4096 + 0.8*8192) = 6301 -> full 6272 -> int(0.8*6272) = 5017 -> 4992
  c.sliding_window = swa - 64;  // W + page = swa: infeasible
  for (auto run : {+[](const PoolSizingCase& x) { validate(x); },
                   +[](const PoolSizingCase& x) { (void)device::pool_sizing(x); },
                   +[](const PoolSizingCase& x) { (void)pool_sizing(x); }}) {
    try {
      run(c);
      ADD_FAILURE() << "accepted an SWA pool that cannot hold one request";
    } catch (const Error& e) {
      EXPECT_EQ(e.field(), "case.sliding_window");
      EXPECT_NE(std::string(e.what()).find("cannot hold even one request"), std::string::npos) << e.what();
    }
  }
  c.sliding_window = swa - 65;  // W + page < swa: feasible
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(device::pool_sizing(c).tokens.get_int(1), swa);
}

TEST(PoolSizing, RejectsAPoolThatCannotHoldOneWindowAndBadFields) {
  PoolSizingCase c = gemma4(int64_t{1} << 20, 1, 1, 64, 0, 0.8);
  c.sliding_window = 1024;
  EXPECT_THROW(pool_sizing(c), Error);
  c = gemma4(1, 1, 0, 1, 0, 0.8);
  try {
    pool_sizing(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "case.num_swa_layers");
  }
}
