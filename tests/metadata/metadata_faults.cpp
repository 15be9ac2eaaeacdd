// Every named fault of the metadata ops (seeds 002 and 003) is detected by a fuzz campaign within 1,000
// cases, shrunk, dumped, and the dump replays to the same report. Without a fault the campaigns pass.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/replay.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("lockstep-faults-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

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
  const FaultCase fc = GetParam();
  const std::string dir = temp_dir(fc.fault);
  CampaignOptions o;
  o.run.fault = fc.fault;
  o.cases = 1000;
  o.seed = 1;
  o.dump_dir = dir;
  const Op& op = find_op(fc.op);
  const auto r = run_campaign(op, o);
  ASSERT_TRUE(r.first_failure.has_value()) << fc.fault << " not detected in 1000 cases";
  const CampaignFailure& f = *r.first_failure;
  EXPECT_LT(f.case_index, 1000);
  EXPECT_FALSE(f.shrunk.passed);
  EXPECT_TRUE(f.shrunk.error.empty()) << f.shrunk.error;  // a wrong output, not an invalid case
  // Greedy shrinking ended at a local minimum, not on budget.
  EXPECT_LT(f.shrink_tries, o.shrink_evaluations);
  ASSERT_FALSE(f.dump_path.empty());
  ASSERT_TRUE(std::filesystem::exists(f.dump_path));

  const ReplayResult rep = replay_file(f.dump_path);
  EXPECT_FALSE(rep.result.report.passed);
  EXPECT_TRUE(rep.has_stored_report);
  EXPECT_TRUE(rep.identical) << "stored:\n" << rep.stored_report_json << "\nreplayed:\n" << to_json(rep.result.report).dump();
  EXPECT_EQ(rep.result.report.case_string, f.shrunk.case_string);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(AllFaults, MetadataFault, ::testing::ValuesIn(metadata_faults()),
                         [](const ::testing::TestParamInfo<FaultCase>& i) { return i.param.fault; });
