// Page-table construction, SWA translation and the static validator (reference/kvcache/page_table.h),
// and the device kernel in lockstep with them (device/kvcache/page_table.h).
#include <algorithm>

#include <gtest/gtest.h>

#include "core/error.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "oracle/campaign.h"
#include "oracle/kvcache/kv_trace.h"
#include "oracle/op.h"
#include "reference/kvcache/page_table.h"
#include "reference/kvcache/pool.h"
#include "reference/kvcache/kv_trace.h"

using namespace lockstep;
using namespace lockstep::reference::kvcache;

namespace {
// Two requests, page size 2, window 3: a long one (9 tokens) and a short one (3 tokens) whose row
// holds stale entries of an earlier request past position 3.
struct Fixture {
  KvMemory m{KvConfig{32, 16, 2, 3, 2, 12}};
  int32_t a = -1, b = -1;
  Fixture() {
    const int32_t old = *m.add_request();
    m.extend(old, 8);
    a = *m.add_request();
    m.finish(old);  // row of `old` keeps its entries
    b = *m.add_request();
    m.extend(a, 7);
    m.decode(a);
    m.decode(a);
    m.extend(b, 3);
    m.evict_swa(a);
  }
};
}  // namespace

TEST(PageTable, BuildsStridedTablesAndTranslates) {
  Fixture f;
  const PageTableInput in = batch_input(f.m);
  ASSERT_EQ(in.cache_seqlens, (std::vector<int32_t>{9, 3}));
  EXPECT_EQ(in.max_seq_len_k, 9);
  const PageTables t = build_page_tables(in);
  EXPECT_EQ(t.cols, 5);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t j = 0; j < 5; ++j) {
      const int32_t tok = f.m.req_to_token().at(in.req_pool_indices[r], j * 2);
      EXPECT_EQ(t.page_table[r * 5 + j], tok / 2);
      EXPECT_EQ(t.swa_page_table[r * 5 + j], f.m.allocator().translate(tok) / 2);
    }
  // Row a: kv 9, last q 1: eviction freed positions [0, 4) (pre_len 8 - 3 = 5 -> page-aligned 4).
  EXPECT_EQ(f.m.request(f.a).swa_evicted, 4);
  EXPECT_EQ(t.swa_page_table[0], 0);
  EXPECT_EQ(t.swa_page_table[1], 0);
  EXPECT_GT(t.swa_page_table[2], 0);
}

TEST(PageTable, ValidatorReportsReadEntriesOnlyNotUnreadTrailingOnes) {
  Fixture f;
  const PageTableInput in = batch_input(f.m);
  const PageTables t = build_page_tables(in);
  const ReadWindow w = read_window(f.m);
  EXPECT_TRUE(validate_page_tables(t, in.cache_seqlens, in.q_lens, w).empty());
  // Unread entries: row a's evicted SWA pages, row b's columns >= ceil(3/2) = 2 hold a finished request's
  // (freed) entries: valid-looking full pages, SWA 0.
  const auto all = table_entries(t.page_table, t.swa_page_table, t.cols, in.cache_seqlens, in.q_lens, w);
  ASSERT_FALSE(all.empty());
  for (const TableEntry& e : all) EXPECT_FALSE(e.read) << describe(e);
  // Widen the read window: a kernel reading the whole row of SWA pages would hit the evicted ones.
  ReadWindow whole = w;
  whole.window = 0;
  const auto bad = validate_page_tables(t, in.cache_seqlens, in.q_lens, whole);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(describe(bad[0]), "swa_page_table[0, 0] = 0 (unallocated/evicted, inside the read window)");
}

TEST(PageTable, ReadColumnsFollowDecision8) {
  const ReadWindow w{4, 5, 10, 10};
  // L = 20, q = 1: query at 19 sees keys 15..19 -> pages 3..4.
  EXPECT_EQ(read_columns(TableKind::swa, 20, 1, w), (std::pair<int64_t, int64_t>{3, 5}));
  EXPECT_EQ(read_columns(TableKind::full, 20, 1, w), (std::pair<int64_t, int64_t>{0, 5}));
  // q = 6: first query at 14 sees keys from 10 -> page 2.
  EXPECT_EQ(read_columns(TableKind::swa, 20, 6, w), (std::pair<int64_t, int64_t>{2, 5}));
  EXPECT_EQ(read_columns(TableKind::swa, 0, 1, w), (std::pair<int64_t, int64_t>{0, 0}));
}

TEST(PageTable, RejectsUnindexableInputs) {
  PageTableInput in;
  in.req_to_token.assign(8, 0);
  in.max_context = 4;
  in.req_pool_indices = {2};
  in.cache_seqlens = {1};
  in.max_seq_len_k = 1;
  try {
    build_page_tables(in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "req_pool_indices[0]");
  }
  in.req_pool_indices = {1};
  in.max_seq_len_k = 5;
  EXPECT_THROW(build_page_tables(in), Error);
}

TEST(PageTableDevice, MatchesTheReferenceExactlyAndReadsClean) {
  Fixture f;
  const PageTableInput in = batch_input(f.m);
  const PageTables ref = build_page_tables(in);
  const auto dev = device::build_page_tables(in, read_window(f.m), device::Options{Backend::cpu, 0});
  EXPECT_EQ(dev.tables.page_table, ref.page_table);
  EXPECT_EQ(dev.tables.swa_page_table, ref.swa_page_table);
  EXPECT_TRUE(dev.reads.empty());
}

TEST(PageTableDevice, StaleTrailingReadIsReportedNotDereferenced) {
  Fixture f;
  const PageTableInput in = batch_input(f.m);
  const auto dev = device::build_page_tables(in, read_window(f.m), device::Options{Backend::cpu, device::kKvFaultStaleTrailingEntriesRead});
  // Row b (3 tokens) walks columns 2..4: stale entries of the finished request, SWA-translated to 0.
  ASSERT_FALSE(dev.reads.empty());
  for (const OobRead& r : dev.reads) {
    EXPECT_EQ(r.seq, 1);
    EXPECT_GE(r.token, 4);
  }
}

TEST(PageTableDevice, CudaRunMatchesCpu) {
  std::string why;
  if (!device::cuda_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  Fixture f;
  const PageTableInput in = batch_input(f.m);
  for (int fault : {0, 1, 2, 3}) {
    const auto cpu = device::build_page_tables(in, read_window(f.m), device::Options{Backend::cpu, fault});
    const auto gpu = device::build_page_tables(in, read_window(f.m), device::Options{Backend::cuda, fault});
    EXPECT_EQ(gpu.tables.page_table, cpu.tables.page_table);
    EXPECT_EQ(gpu.tables.swa_page_table, cpu.tables.swa_page_table);
    EXPECT_EQ(gpu.reads, cpu.reads);
  }
}

// Decision 8 + eviction (reference/kvcache/pool.h): with page size 1 eviction frees exactly the keys no
// query of window W reads any more; a kernel whose window is one key wider (spec §7.1's config vs
// config - 1 mismatch) reads an evicted slot, which the validator reports.
TEST(PageTable, EvictionBoundaryIsTightForTheWindow) {
  KvMemory m(KvConfig{64, 64, 1, 4, 1, 32});
  const int32_t a = *m.add_request();
  m.extend(a, 10);
  for (int i = 0; i < 3; ++i) m.decode(a);
  m.evict_swa(a);  // kv 13, last q 1: pre_len 12 -> positions [0, 8) freed
  EXPECT_EQ(m.request(a).swa_evicted, 8);
  const PageTableInput in = batch_input(m);
  const PageTables t = build_page_tables(in);
  ReadWindow w = read_window(m);
  EXPECT_TRUE(validate_page_tables(t, in.cache_seqlens, in.q_lens, w).empty());  // query 12 reads keys 9..12
  w.window = 6;  // a kernel window two keys wider reads key 7 of query 12
  const auto bad = validate_page_tables(t, in.cache_seqlens, in.q_lens, w);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(describe(bad[0]), "swa_page_table[0, 7] = 0 (unallocated/evicted, inside the read window)");
  w.window = 5;  // one key wider: key 8 is still live (eviction used pre_len = 12, not 13)
  EXPECT_TRUE(validate_page_tables(t, in.cache_seqlens, in.q_lens, w).empty());
}

// Spec §4.4 divides with torch's `//` (floor): an unallocated req_to_token entry -1 gives page -1, as the
// device kernel computes it, not 0 (C++ `/` truncates toward zero). Row b's entries past its kv_len are
// unset to -1 through the pool model; the SWA translation of -1 goes through the mapping's -1 entry.
TEST(PageTable, UnallocatedEntriesFloorDivide) {
  KvMemory m(KvConfig{64, 64, 4, 8, 2, 32});
  const int32_t a = *m.add_request(), b = *m.add_request();
  m.extend(a, 13);
  m.extend(b, 5);
  m.unset_tail(b, 32);  // positions [5, 32) of b's row = -1 (clipped to max_context)
  EXPECT_EQ(m.req_to_token().at(m.request(b).slot, 8), -1);
  EXPECT_EQ(m.allocator().translate(-1), -1);
  const PageTableInput in = batch_input(m);
  const PageTables t = build_page_tables(in);
  ASSERT_EQ(t.cols, 4);  // ceil(13 / 4)
  for (int64_t j = 2; j < 4; ++j) {  // row b's columns past ceil(5 / 4) = 2: token -1
    EXPECT_EQ(t.page_table[1 * 4 + j], -1) << j;
    EXPECT_EQ(t.swa_page_table[1 * 4 + j], -1) << j;
  }
  // Unread (past kv_len): the validator stays quiet, and the device kernel builds the same tables.
  EXPECT_TRUE(validate_page_tables(t, in.cache_seqlens, in.q_lens, read_window(m)).empty());
  const auto dev = device::build_page_tables(in, read_window(m), device::Options{Backend::cpu, 0});
  EXPECT_EQ(dev.tables.page_table, t.page_table);
  EXPECT_EQ(dev.tables.swa_page_table, t.swa_page_table);
  EXPECT_TRUE(dev.reads.empty());
}

// The kv_trace generator reaches -1 entries in both tables, built by the device kernel from req_to_token
// rows and the mapping (not supplied as tables), and reference and device agree on every one of them.
TEST(KvTraceGenerator, ReachesUnallocatedEntriesBuiltThroughTheKernel) {
  const oracle::Op& op = oracle::find_op("kv_trace");
  int64_t full_minus_one = 0, swa_minus_one = 0, cases_with = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const std::any c = oracle::campaign_case(op, 1, i).value();
    const auto& kc = std::any_cast<const KvTraceCase&>(c);
    const auto dev = oracle::device_kv_trace(kc, device::Options{});
    const auto full = dev.page_tables.span<int32_t>(), swa = dev.swa_page_tables.span<int32_t>();
    const int64_t f = std::count(full.begin(), full.end(), -1), s = std::count(swa.begin(), swa.end(), -1);
    full_minus_one += f;
    swa_minus_one += s;
    if (f > 0 && kc.page_size > 1) {
      ++cases_with;
      const auto r = op.run(c, {});
      EXPECT_TRUE(r.report.passed) << oracle::to_text(r.report);
    }
  }
  EXPECT_GT(full_minus_one, 0);
  EXPECT_GT(swa_minus_one, 0);
  EXPECT_GE(cases_with, 5);
}
