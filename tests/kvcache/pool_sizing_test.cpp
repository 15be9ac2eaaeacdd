// Unit tests of `pool_sizing` (reference/kvcache/pool_sizing.h, device/kvcache/pool_sizing.h): the four
// Gemma-4 layouts of spec README decision 10, the MoE-only default ratio, upstream's float association and
// spec §3.3's feasibility error on both sides.
#include <gtest/gtest.h>

#include "core/error.h"
#include "device/core/faults.h"
#include "device/kvcache/pool_sizing.h"
#include "reference/kvcache/pool_sizing.h"

using namespace lockstep;
using namespace lockstep::reference::kvcache;

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

// The float expression is upstream's, association included: F * n_full + r * S * n_swa is (r * S) * n_swa in
// Python. Here (0.8 * 1536) * 15 = 18432.000000000004 while 0.8 * (1536 * 15) = 18432 exactly, so the cell is
// 30720.000000000004 and 30720 // cell = 0.0 (Python) — the other association would size a pool of 1 token.
TEST(PoolSizing, FollowsUpstreamsFloatAssociation) {
  PoolSizingCase c = gemma4(30720 * 1000, 6, 15, 1, 0, 0.8);
  c.full_bytes_per_token = 2048;
  c.swa_bytes_per_token = 1536;
  expect_layout(c, 999, 799);  // Python: 30720000 // 30720.000000000004 = 999.0; int(999 * 0.8) = 799
  c.available_bytes = 30720;
  expect_layout(c, 0, 0);
}

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
