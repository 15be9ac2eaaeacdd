#pragma once
// The fault suite's shared checks (tests/oracle/faults_test.cpp runs them for every fault of every
// registered op): a named fault is detected by a fuzz campaign within 1,000 cases, the failure is shrunk to
// a local minimum (not on budget), dumped, and the dump replays to the identical report; without a fault a
// campaign passes.
//
// An op's own fault file (tests/<family>/<op>_faults.cpp, compiled into the same executable when it exists;
// cmake/ops.cmake) may add checks to those campaigns with one `static const RegisterOpSuiteHooks k("op", {...});` instead
// of running them again.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

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

/// An op's additions to the generic fault suite (all optional).
struct OpSuiteHooks {
  /// Cases of the op's campaign without fault (seed 7); 0 = the suite's default.
  int64_t clean_cases = 0;
  /// Extra checks on the clean campaign's result.
  std::function<void(const oracle::Op&, const oracle::CampaignResult&)> on_clean;
  /// Extra checks on a detected fault's failure (seed 1; `f.shrunk_case` holds the op's case type).
  std::function<void(const oracle::Op&, const std::string& fault, const oracle::CampaignFailure& f)> on_fault;
};

inline std::map<std::string, OpSuiteHooks>& op_suite_hooks() {
  static std::map<std::string, OpSuiteHooks> hooks;
  return hooks;
}

/// The hooks of `op` (default ones when its fault file declares none).
inline OpSuiteHooks hooks_for(const std::string& op) {
  const auto it = op_suite_hooks().find(op);
  return it == op_suite_hooks().end() ? OpSuiteHooks{} : it->second;
}

struct RegisterOpSuiteHooks {
  RegisterOpSuiteHooks(const std::string& op, OpSuiteHooks hooks) { op_suite_hooks()[op] = std::move(hooks); }
};

/// One named fault of a registered op, as a test parameter (`op --fault name` in test output).
struct FaultParam {
  std::string op, fault;
};
inline void PrintTo(const FaultParam& p, std::ostream* os) { *os << p.op << " --fault " << p.fault; }

/// Every fault of every registered op, in registry order.
inline std::vector<FaultParam> registered_faults() {
  std::vector<FaultParam> v;
  for (const auto& op : oracle::registry())
    for (const auto& f : op->faults()) v.push_back({op->name(), f.name});
  return v;
}

/// The registered ops' names, in registry order.
inline std::vector<std::string> registered_ops() {
  std::vector<std::string> v;
  for (const auto& op : oracle::registry()) v.push_back(op->name());
  return v;
}

}  // namespace lockstep::testing
