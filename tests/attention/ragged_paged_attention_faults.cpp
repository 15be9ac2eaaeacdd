// Every named fault of ragged_paged_attention is detected by a fuzz campaign within 1,000 cases,
// shrunk, dumped, and the dump replays to the same report. Without a fault the same campaign passes.
#include <filesystem>

#include <gtest/gtest.h>

#include "core/attention/ragged_paged_attention.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"
#include "oracle/replay.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

class RpaFault : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(RpaFaults, CampaignWithoutFaultPasses) {
  lockstep::testing::expect_clean_campaign("ragged_paged_attention", 300);
}

TEST_P(RpaFault, DetectedShrunkDumpedAndReplayed) {
  const Op& op = find_op("ragged_paged_attention");
  const auto f = lockstep::testing::expect_fault_detected(op, GetParam());
  ASSERT_TRUE(f.has_value());
  EXPECT_LE(std::any_cast<const RpaCase&>(f->shrunk_case).num_tokens(),
            std::any_cast<const RpaCase&>(campaign_case(op, 1, f->case_index).value()).num_tokens());
}

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

INSTANTIATE_TEST_SUITE_P(AllFaults, RpaFault, ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto& f : device::all_faults())
                             if (std::string(f.op) == "ragged_paged_attention") names.push_back(f.name);
                           return names;
                         }()));
