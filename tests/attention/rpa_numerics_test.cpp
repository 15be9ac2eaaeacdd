// Numerics of ragged paged attention's comparison (oracle/compare.h attention_tolerance) and the reach of
// its generator: large logits compare without false failures, every accepted dtype is generated.
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "attention/rpa_test_util.h"
#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/report.h"
#include "reference/attention/ragged_paged_attention.h"

using namespace lockstep;

namespace {
const oracle::Op& op() { return oracle::find_op("ragged_paged_attention"); }
}  // namespace

// Issue 9 item 1: with |logits| ~ 1e3 the fp32 rounding of the softmax argument (~|s| * 2^-24 per score)
// moves an f32 output by ~4e-5, far above one f32 ulp; both sides are right, so the oracle must pass.
TEST(RpaTolerance, LargeLogitsCompareWithoutFalseFailures) {
  int large = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    auto spec = lockstep::testing::simple_spec({{16, 48}, {1, 200}, {33, 0}}, 4, 2, 2, 64);
    spec.block_q = 8;
    spec.block_kv_pages = 4;
    spec.data_seed = seed;
    RpaCase c = fuzz::materialize(spec);
    c.sm_scale = 128.0;  // |q.k| up to ~9 with values in [-1, 1), D = 64: |logits| up to ~1.1e3
    const auto ref = reference::ragged_paged_attention(c);
    if (ref.logit_bound > 500) ++large;
    const auto r = op().run(std::any(c), {});
    EXPECT_TRUE(r.report.passed) << oracle::to_text(r.report);
  }
  EXPECT_EQ(large, 12);
}

TEST(RpaTolerance, SoftmaxArgumentTermFollowsItsDerivation) {
  using oracle::AttentionMagnitudes;
  // No logits, values <= 1: exactly tolerance_for plus expf's 2u argument error.
  const auto base = oracle::tolerance_for(DType::f32, 100);
  const auto t0 = oracle::attention_tolerance(DType::f32, AttentionMagnitudes{100, 64, 0, 1, 0});
  EXPECT_DOUBLE_EQ(t0.rtol, base.rtol);
  EXPECT_NEAR(t0.atol, base.atol + std::expm1(4 * std::ldexp(1.0, -24)), 1e-15);
  // M = 1000, D = 64: argument error u * (8 + 3) * 1000, output moves by (e^2D - 1) * Vmax.
  const double d = std::ldexp(1.0, -24) * (11 * 1000.0 + 2);
  const auto t1 = oracle::attention_tolerance(DType::f32, AttentionMagnitudes{100, 64, 1000, 0.5, 0});
  EXPECT_NEAR(t1.atol, base.atol + std::expm1(2 * d) * 0.5, 1e-15);
  EXPECT_GT(t1.atol, 4.4e-5);  // the error observed at |logits| ~ 1150
  // Values beyond 1 scale the accumulation term; integers stay exact.
  const auto t2 = oracle::attention_tolerance(DType::bf16, AttentionMagnitudes{100, 64, 0, 8, 0});
  EXPECT_NEAR(t2.atol, 8 * base.atol + std::expm1(4 * std::ldexp(1.0, -24)) * 8, 1e-15);
  EXPECT_TRUE(oracle::attention_tolerance(DType::i32, AttentionMagnitudes{100, 64, 10, 1, 0}).exact());
}

// Issue 9 items 1 and 3: the campaign's cases include every dtype validate() accepts and logits from ~10
// to beyond 1e3 (so the no-false-failure property covers them), in every dtype.
TEST(RpaGenerator, ReachesEveryDtypeAndLargeLogits) {
  std::set<DType> dtypes, large_dtypes;
  for (int64_t i = 0; i < 300; ++i) {
    const std::any a = oracle::campaign_case(op(), 1, i).value();
    const auto& c = std::any_cast<const RpaCase&>(a);
    dtypes.insert(c.dtype);
    if (reference::ragged_paged_attention(c).logit_bound > 1000) large_dtypes.insert(c.dtype);
  }
  const std::set<DType> all{DType::f32, DType::bf16, DType::f16};
  EXPECT_EQ(dtypes, all);
  EXPECT_EQ(large_dtypes, all);
}
