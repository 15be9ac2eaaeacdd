#pragma once
// Shared check of the fault suites: a named fault is detected by a fuzz campaign within 1,000 cases,
// the failure is shrunk to a local minimum (not on budget), dumped, and the dump replays to the identical
// report. Returns the failure for op-specific checks (empty when the fault was not detected). Used by
// every <op>_faults.cpp suite.
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "oracle/campaign.h"
#include "oracle/replay.h"

namespace lockstep::testing {

inline std::string fault_temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("lockstep-faults-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

inline std::optional<oracle::CampaignFailure> expect_fault_detected(const oracle::Op& op, const std::string& fault,
                                                                    uint64_t seed = 1, int64_t cases = 1000) {
  using namespace lockstep::oracle;
  const std::string dir = fault_temp_dir(fault);
  CampaignOptions o;
  o.run.fault = fault;
  o.cases = cases;
  o.seed = seed;
  o.dump_dir = dir;
  const auto r = run_campaign(op, o);
  EXPECT_TRUE(r.first_failure.has_value()) << fault << " not detected in " << cases << " cases";
  if (!r.first_failure) return std::nullopt;
  const CampaignFailure& f = *r.first_failure;
  EXPECT_LT(f.case_index, cases);
  EXPECT_FALSE(f.shrunk.passed);
  EXPECT_TRUE(f.shrunk.error.empty()) << f.shrunk.error;  // a wrong output, not an invalid case
  // Greedy shrinking ended at a local minimum (no shrink of the dumped case still fails), not on budget.
  EXPECT_LT(f.shrink_tries, o.shrink_evaluations);
  EXPECT_FALSE(f.dump_path.empty());
  EXPECT_TRUE(std::filesystem::exists(f.dump_path));
  if (std::filesystem::exists(f.dump_path)) {
    const ReplayResult rep = replay_file(f.dump_path);
    EXPECT_FALSE(rep.result.report.passed);
    EXPECT_TRUE(rep.has_stored_report);
    EXPECT_TRUE(rep.identical) << "stored:\n"
                               << rep.stored_report_json << "\nreplayed:\n"
                               << to_json(rep.result.report).dump();
    EXPECT_EQ(rep.result.report.case_string, f.shrunk.case_string);
  }
  std::filesystem::remove_all(dir);
  return f;
}

/// The baseline of every fault suite: without a fault, a campaign of `cases` cases (seed 7) passes.
inline oracle::CampaignResult expect_clean_campaign(const std::string& op, int64_t cases) {
  using namespace lockstep::oracle;
  CampaignOptions o;
  o.cases = cases;
  o.seed = 7;
  o.dump_dir = "";
  const auto r = run_campaign(find_op(op), o);
  EXPECT_EQ(r.cases_run, cases) << op;
  EXPECT_EQ(r.failures, 0) << op << ": " << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
  return r;
}

}  // namespace lockstep::testing
