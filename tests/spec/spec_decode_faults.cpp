// Every named fault of spec_decode (seed 004) is detected by a fuzz campaign within 200 command
// sequences, shrunk, dumped, and the dump replays to the same report. Without a fault, 500
// sequences pass.
#include <filesystem>

#include <gtest/gtest.h>

#include "core/spec/spec_decode.h"
#include "device/core/faults.h"
#include "oracle/fault_campaign.h"
#include "oracle/campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

class SpecFault : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(SpecFaults, CampaignWithoutFaultPasses) {
  const auto r = lockstep::testing::expect_clean_campaign("spec_decode", 500);
  bool has_mean = false;
  for (const oracle::StatTotal& s : r.stats) has_mean |= s.name == "mean_accept_length" && s.value() >= 1.0;
  EXPECT_TRUE(has_mean);
}

TEST_P(SpecFault, DetectedShrunkDumpedAndReplayed) {
  const Op& op = find_op("spec_decode");
  const auto detected = lockstep::testing::expect_fault_detected(op, GetParam(), 1, 200);
  ASSERT_TRUE(detected.has_value());
  const CampaignFailure& f = *detected;
  const auto& shrunk = std::any_cast<const SpecDecodeCase&>(f.shrunk_case);
  const std::any original = campaign_case(op, 1, f.case_index).value();
  EXPECT_LE(shrunk.num_commands(), std::any_cast<const SpecDecodeCase&>(original).num_commands());
  EXPECT_LE(shrunk.num_commands(), 8) << f.shrunk.case_string;
}

INSTANTIATE_TEST_SUITE_P(AllFaults, SpecFault, ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto& f : device::all_faults())
                             if (std::string(f.op) == "spec_decode") names.push_back(f.name);
                           return names;
                         }()));
