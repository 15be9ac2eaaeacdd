// Every named fault of the metadata ops (seeds 002 and 003) is detected by a fuzz campaign within 1,000
// cases, shrunk, dumped, and the dump replays to the same report. Without a fault the campaigns pass.
#include <gtest/gtest.h>

#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

struct FaultCase {
  std::string op, fault;
};

class MetadataFault : public ::testing::TestWithParam<FaultCase> {};

std::vector<FaultCase> metadata_faults() {
  std::vector<FaultCase> v;
  for (const auto& f : device::all_faults())
    if (std::string(f.op) == "segment_seqlens_offsets" || std::string(f.op) == "nsa_metadata") v.push_back({f.op, f.name});
  return v;
}

}  // namespace

TEST(MetadataFaults, CampaignsWithoutFaultPass) {
  for (const char* name : {"segment_seqlens_offsets", "nsa_metadata"}) {
    CampaignOptions o;
    o.cases = 2000;
    o.seed = 7;
    o.dump_dir = "";
    const auto r = run_campaign(find_op(name), o);
    EXPECT_EQ(r.cases_run, 2000) << name;
    EXPECT_EQ(r.failures, 0) << name << ": " << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
  }
}

TEST_P(MetadataFault, DetectedShrunkDumpedAndReplayed) {
  const auto f = lockstep::testing::expect_fault_detected(find_op(GetParam().op), GetParam().fault);
  ASSERT_TRUE(f.has_value());
}

INSTANTIATE_TEST_SUITE_P(AllFaults, MetadataFault, ::testing::ValuesIn(metadata_faults()),
                         [](const ::testing::TestParamInfo<FaultCase>& i) { return i.param.fault; });
