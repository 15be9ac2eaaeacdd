#pragma once
/// Shared checks of the per-fault ctests: a campaign with an injected fault found a failure within its
/// case budget, shrank it to a local minimum (not to the end of the shrink budget), wrote a dump, and
/// the dump replays to the identical report.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "oracle/campaign.h"
#include "oracle/replay.h"

namespace lockstep::fault_test {

/// A fresh per-process temporary directory for the dumps of `name`.
inline std::string fault_temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("lockstep-faults-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

inline void expect_detected_shrunk_dumped_replayed(const oracle::CampaignResult& r, const oracle::CampaignOptions& o) {
  ASSERT_TRUE(r.first_failure.has_value()) << o.run.fault << " not detected in " << o.cases << " cases";
  const oracle::CampaignFailure& f = *r.first_failure;
  EXPECT_LT(f.case_index, o.first_case + o.cases);
  EXPECT_FALSE(f.shrunk.passed);
  EXPECT_LT(f.shrink_tries, o.shrink_evaluations);
  ASSERT_FALSE(f.dump_path.empty());
  ASSERT_TRUE(std::filesystem::exists(f.dump_path));
  const oracle::ReplayResult rep = oracle::replay_file(f.dump_path);
  EXPECT_FALSE(rep.result.report.passed);
  EXPECT_TRUE(rep.has_stored_report);
  EXPECT_TRUE(rep.identical) << "stored:\n"
                             << rep.stored_report_json << "\nreplayed:\n"
                             << oracle::to_json(rep.result.report).dump();
  EXPECT_EQ(rep.result.report.case_string, f.shrunk.case_string);
}

}  // namespace lockstep::fault_test
