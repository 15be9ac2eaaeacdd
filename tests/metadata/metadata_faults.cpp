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
  for (const char* name : {"segment_seqlens_offsets", "nsa_metadata"}) lockstep::testing::expect_clean_campaign(name, 2000);
}

TEST_P(MetadataFault, DetectedShrunkDumpedAndReplayed) {
  const auto f = lockstep::testing::expect_fault_detected(find_op(GetParam().op), GetParam().fault);
  ASSERT_TRUE(f.has_value());
}

INSTANTIATE_TEST_SUITE_P(AllFaults, MetadataFault, ::testing::ValuesIn(metadata_faults()),
                         [](const ::testing::TestParamInfo<FaultCase>& i) { return i.param.fault; });
