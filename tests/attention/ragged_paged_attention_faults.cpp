// ragged_paged_attention's additions to the fault suite (tests/oracle/faults_test.cpp runs every fault's
// campaign and the campaign without fault): shrinking never adds tokens, a large failing case shrinks, and
// a one-ulp output rounding fault is seen only by the exact rounding check.
#include <filesystem>

#include <gtest/gtest.h>

#include "attention/rpa_test_util.h"
#include "core/attention/ragged_paged_attention.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"
#include "oracle/replay.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

const lockstep::testing::RegisterOpSuiteHooks kHooks("ragged_paged_attention", [] {
  lockstep::testing::OpSuiteHooks h;
  h.clean_cases = 300;
  h.on_fault = [](const Op& op, const std::string&, const CampaignFailure& f) {
    EXPECT_LE(std::any_cast<const RpaCase&>(f.shrunk_case).num_tokens(),
              std::any_cast<const RpaCase&>(campaign_case(op, 1, f.case_index).value()).num_tokens());
  };
  return h;
}());

}  // namespace

TEST(RpaFaults, ShrinkingReducesALargeFailingCase) {
  // Start the campaign at large sizes so the first failure is big; shrinking must make it smaller.
  CampaignOptions o;
  o.run.fault = "segment_mask_or_for_and";
  o.first_case = 80;
  o.cases = 1000;
  o.dump_dir = "";
  const Op& op = find_op("ragged_paged_attention");
  const auto r = run_campaign(op, o);
  ASSERT_TRUE(r.first_failure.has_value());
  const auto& f = *r.first_failure;
  EXPECT_GT(f.shrink_steps, 0);
  const std::any original_any = campaign_case(op, o.seed, f.case_index).value();
  const auto& original = std::any_cast<const RpaCase&>(original_any);
  const auto& shrunk = std::any_cast<const RpaCase&>(f.shrunk_case);
  EXPECT_LT(shrunk.num_tokens() * shrunk.num_q_heads * shrunk.head_dim,
            original.num_tokens() * original.num_q_heads * original.head_dim)
      << f.original.case_string << "\n -> " << f.shrunk.case_string;
}

// Issue 9 item 2: an output cast that rounds toward zero stays within one ulp, inside the output tolerance;
// only the exact check against the kernel's own f32-output run (rounded to nearest-even) flags it, in both
// bf16 and f16.
TEST(RpaFaults, RoundTowardZeroIsCaughtOnlyByTheExactRoundingCheck) {
  const Op& op = find_op("ragged_paged_attention");
  for (DType dt : {DType::bf16, DType::f16}) {
    auto spec = lockstep::testing::simple_spec({{5, 7}, {1, 12}});
    spec.dtype = dt;
    const RpaCase c = fuzz::materialize(spec);
    RunOptions o;
    o.fault = "output_round_toward_zero";
    const auto r = op.run(std::any(c), o);
    ASSERT_FALSE(r.report.passed) << dtype_name(dt);
    ASSERT_EQ(r.report.outputs.size(), 3u);
    EXPECT_EQ(r.report.outputs[0].name, "out");
    EXPECT_TRUE(r.report.outputs[0].passed);  // within tolerance
    EXPECT_EQ(r.report.outputs[1].name, "out_rounding");
    EXPECT_FALSE(r.report.outputs[1].passed);
    EXPECT_EQ(r.report.failures.size(), 1u);
    EXPECT_TRUE(op.run(std::any(c), {}).report.passed);  // and without the fault the same case passes
  }
}
