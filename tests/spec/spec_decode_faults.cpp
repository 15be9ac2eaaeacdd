// spec_decode's additions to the fault suite (tests/oracle/faults_test.cpp runs every fault's campaign and
// the campaign without fault): each fault (seed 004) is detected within 200 command sequences and shrinks to
// at most 8 commands (never more than the generated sequence); 500 sequences without fault pass and report
// a mean accept length of at least 1.
#include <gtest/gtest.h>

#include "core/spec/spec_decode.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

const lockstep::testing::RegisterOpSuiteHooks kHooks("spec_decode", [] {
  lockstep::testing::OpSuiteHooks h;
  h.clean_cases = 500;
  h.on_clean = [](const Op&, const CampaignResult& r) {
    bool has_mean = false;
    for (const StatTotal& s : r.stats) has_mean |= s.name == "mean_accept_length" && s.value() >= 1.0;
    EXPECT_TRUE(has_mean);
  };
  h.on_fault = [](const Op& op, const std::string& fault, const CampaignFailure& f) {
    EXPECT_LT(f.case_index, 200) << fault;
    const auto& shrunk = std::any_cast<const SpecDecodeCase&>(f.shrunk_case);
    const std::any original = campaign_case(op, 1, f.case_index).value();
    EXPECT_LE(shrunk.num_commands(), std::any_cast<const SpecDecodeCase&>(original).num_commands());
    EXPECT_LE(shrunk.num_commands(), 8) << f.shrunk.case_string;
  };
  return h;
}());

}  // namespace
