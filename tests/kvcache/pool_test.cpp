// Unit tests of the KV memory reference model (reference/kvcache/pool.h): allocator arithmetic, mapping,
// eviction, the leak invariant and its message.
#include <gtest/gtest.h>

#include "core/error.h"
#include "reference/kvcache/pool.h"

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

TEST(KvMemory, ShrinkFreesWholePagesPastTheNewLengthAndEvictBeforeTakesAPreLen) {
  // Page 4: kv 10 (3 pages). Shrink to 5: ceil_align(5, 4) = 8 kept, page of positions 8..9 freed in both pools.
  KvMemory m(KvConfig{32, 16, 4, 2, 2, 32});
  auto a = m.add_request();
  ASSERT_TRUE(a);
  ASSERT_TRUE(m.extend(*a, 10));
  m.shrink(*a, 5);
  EXPECT_EQ(m.request(*a).kv_len, 5);
  EXPECT_EQ(m.allocator().full_available_size(), 32 - 8);
  EXPECT_EQ(m.allocator().swa_available_size(), 16 - 8);
  m.check_invariant();
  // Grow again: the partial page is reused (positions 5..7), then one new page.
  ASSERT_TRUE(m.extend(*a, 6));
  EXPECT_EQ(m.allocator().full_available_size(), 32 - 12);
  // Eviction with an explicit pre_len: max(0, 10 - 2) = 8 -> page-aligned 8.
  EXPECT_EQ(m.evict_swa_before(*a, 10), 8);
  EXPECT_EQ(m.request(*a).swa_evicted, 8);
  EXPECT_EQ(m.evict_swa_before(*a, 10), 0);  // nothing new
  m.check_invariant();
  // The bug model: shrinking with free_swa = false returns the full page only (SWA leaks, mapping stale).
  m.shrink(*a, 7, false);  // kv 11 -> 7: the page of positions 8..10
  EXPECT_EQ(m.allocator().full_available_size(), 32 - 8);
  EXPECT_EQ(m.allocator().swa_available_size(), 16 - 4);
  EXPECT_THROW(m.check_invariant(), Error);
  EXPECT_THROW(m.shrink(*a, 8), Error);  // beyond kv_len
}
