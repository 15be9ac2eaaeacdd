// The CPU launcher (device/core/cpu_launch.h): every block runs exactly once with its own shared memory,
// and the OOB log of a multi-threaded run holds the same bytes and count as a one-thread run, capacity
// overflow included; device RPA gives identical outputs and OOB reports for any thread count.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <vector>

#include "core/attention/ragged_paged_attention.h"
#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/core/cpu_launch.h"
#include "oracle/campaign.h"
#include "oracle/op.h"

namespace lockstep::device {
namespace {

struct ToyParams {
  int32_t* out;  // (blocks) disjoint per block
  OobLog oob;
};
OobLog* oob_log(ToyParams& p) { return &p.oob; }

/// Block b writes out[b] and records b % 5 entries (slot = b, token = entry), using its shared memory.
void toy_block(const ToyParams& p, const BlockCtx&, int64_t b, unsigned char* smem) {
  smem[0] = static_cast<unsigned char>(b);
  p.out[b] = static_cast<int32_t>(b * 3 + smem[0] % 2);
  for (int i = 0; i < b % 5; ++i) p.oob.record(static_cast<int32_t>(b), i, static_cast<int32_t>(b), -1, 0);
}

struct ToyRun {
  std::vector<int32_t> out;
  std::vector<OobRead> records;
  int count = 0;
};

ToyRun run_toy(int64_t blocks, int capacity, int threads) {
  ToyRun r;
  r.out.assign(static_cast<size_t>(blocks), -1);
  r.records.assign(static_cast<size_t>(capacity), OobRead{});
  ToyParams p{r.out.data(), OobLog{r.records.data(), capacity, &r.count}};
  cpu_launch(p, blocks, 1, threads, toy_block);
  return r;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool same_bytes(const std::vector<OobRead>& a, const std::vector<OobRead>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(OobRead)) == 0;
}

TEST(CpuLaunch, AnyThreadCountGivesTheOneThreadBytes) {
  for (int64_t blocks : {0, 1, 2, 7, 100}) {
    for (int capacity : {0, 3, 50, 1000}) {
      const ToyRun one = run_toy(blocks, capacity, 1);
      for (int64_t b = 0; b < blocks; ++b) ASSERT_EQ(one.out[b], b * 3 + b % 2);
      for (int threads : {2, 3, 8, 200}) {
        const ToyRun many = run_toy(blocks, capacity, threads);
        EXPECT_EQ(many.out, one.out) << blocks << " blocks, " << threads << " threads";
        EXPECT_EQ(many.count, one.count) << blocks << " blocks, capacity " << capacity << ", " << threads << " threads";
        EXPECT_TRUE(same_bytes(many.records, one.records))
            << blocks << " blocks, capacity " << capacity << ", " << threads << " threads";
      }
    }
  }
}

TEST(CpuLaunch, RecordsAfterAnExistingCountAppendInBlockOrder) {
  // A log that already holds records (a second kernel sharing the log) keeps them and appends after.
  std::vector<int32_t> out(10);
  std::vector<OobRead> records(8);
  int count = 2;
  records[0].slot = 100;
  records[1].slot = 101;
  ToyParams p{out.data(), OobLog{records.data(), 8, &count}};
  cpu_launch(p, 10, 1, 4, toy_block);
  EXPECT_EQ(count, 2 + (0 + 1 + 2 + 3 + 4) * 2);  // blocks 0..9 record b % 5 each
  EXPECT_EQ(records[0].slot, 100);
  EXPECT_EQ(records[1].slot, 101);
  const int32_t expect_slots[6] = {1, 2, 2, 3, 3, 3};  // blocks 1, 2, 2, 3, 3, 3 in block order
  for (int i = 0; i < 6; ++i) EXPECT_EQ(records[2 + i].slot, expect_slots[i]) << i;
}

// Device RPA over generated cases (OOB pages included): outputs and OOB report identical for 1, 2 and 5
// CPU-launcher threads.
TEST(CpuLaunch, RpaIsIdenticalForAnyThreadCount) {
  const oracle::Op& op = oracle::find_op("ragged_paged_attention");
  int64_t with_oob = 0;
  for (int64_t i = 0; i < 150; ++i) {
    RpaCase c = std::any_cast<RpaCase>(oracle::campaign_case(op, 7, i).value());
    // Bad pages: every other slot (i % 3 == 1) or every slot (i % 3 == 2): many records from many blocks
    // (capacity overflow is covered by the toy kernel above).
    auto pages = c.page_indices.span<int32_t>();
    for (size_t s = 0; s < pages.size(); ++s)
      if ((i % 3 == 1 && s % 2 == 0) || i % 3 == 2) pages[s] = s % 3 == 0 ? -1 : INT_MAX;
    Options o;
    RpaOutputs one;
    try {
      one = ragged_paged_attention(c, o);
    } catch (const Error&) {
      continue;  // an invalid case is rejected before any launch
    }
    with_oob += one.oob_reads.numel() > 0;
    for (int threads : {2, 5}) {
      o.cpu_threads = threads;
      const RpaOutputs many = ragged_paged_attention(c, o);
      EXPECT_TRUE(same_tensor(many.out, one.out)) << "case " << i << ", " << threads << " threads";
      EXPECT_TRUE(same_tensor(many.kv_cache, one.kv_cache)) << "case " << i;
      EXPECT_TRUE(same_tensor(many.oob_reads, one.oob_reads)) << "case " << i << ", " << threads << " threads";
      EXPECT_EQ(many.oob_dropped, one.oob_dropped) << "case " << i;
    }
  }
  EXPECT_GT(with_oob, 20) << "the cases must include out-of-range pages";
}

}  // namespace
}  // namespace lockstep::device
