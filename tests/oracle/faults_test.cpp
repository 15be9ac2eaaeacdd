// The fault suite, over the registry: every named fault of every registered op (device::all_faults()) is
// detected by a fuzz campaign within 1,000 cases, shrunk, dumped, and the dump replays to the same report;
// without a fault, each op's campaign passes. One ctest per fault and per op (gtest_discover_tests), so a new
// fault or op is a new ctest with no edit here. Op-specific checks on these campaigns come from the ops'
// fault files (tests/<family>/<op>_faults.cpp, OpSuiteHooks), linked into this executable.
#include <set>

#include <gtest/gtest.h>

#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

/// Cases of a campaign without fault when the op's hooks do not say (seed 7; the coverage test also runs
/// 2,000 cases of seed 1 of every op, which must pass).
constexpr int64_t kDefaultCleanCases = 1000;

using lockstep::testing::FaultParam;
using lockstep::testing::registered_faults;
using lockstep::testing::registered_ops;

class Fault : public ::testing::TestWithParam<FaultParam> {};
class CleanCampaign : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(Faults, EveryFaultBelongsToARegisteredOpAndIsNamedOnce) {
  std::set<std::string> ops, seen;
  for (const auto& op : registry()) ops.insert(op->name());
  for (const auto& f : device::all_faults()) {
    EXPECT_TRUE(ops.count(f.op)) << f.name << ": op " << f.op << " is not registered";
    EXPECT_TRUE(seen.insert(std::string(f.op) + "/" + f.name).second) << f.op << "/" << f.name << " listed twice";
  }
}

TEST(Faults, HooksNameRegisteredOps) {
  for (const auto& [name, hooks] : lockstep::testing::op_suite_hooks()) EXPECT_NO_THROW(find_op(name)) << name;
}

TEST_P(Fault, DetectedShrunkDumpedAndReplayed) {
  const Op& op = find_op(GetParam().op);
  const auto f = lockstep::testing::expect_fault_detected(op, GetParam().fault);
  ASSERT_TRUE(f.has_value());
  // Shrinking never ends on a larger case than the generated one.
  const std::any original = campaign_case(op, 1, f->case_index).value();
  EXPECT_LE(case_values(op, f->shrunk_case), case_values(op, original))
      << f->original.case_string << "\n -> " << f->shrunk.case_string;
  if (const auto hooks = lockstep::testing::hooks_for(op.name()); hooks.on_fault) hooks.on_fault(op, GetParam().fault, *f);
}

TEST_P(CleanCampaign, PassesWithoutFault) {
  const Op& op = find_op(GetParam());
  const auto hooks = lockstep::testing::hooks_for(op.name());
  const auto r = lockstep::testing::expect_clean_campaign(op.name(), hooks.clean_cases > 0 ? hooks.clean_cases
                                                                                           : kDefaultCleanCases);
  if (hooks.on_clean) hooks.on_clean(op, r);
}

// Test names: Fault.DetectedShrunkDumpedAndReplayed/<op>__<fault>, CleanCampaign.PassesWithoutFault/<op>.
INSTANTIATE_TEST_SUITE_P(, Fault, ::testing::ValuesIn(registered_faults()),
                         [](const auto& info) { return info.param.op + "__" + info.param.fault; });
INSTANTIATE_TEST_SUITE_P(, CleanCampaign, ::testing::ValuesIn(registered_ops()),
                         [](const auto& info) { return info.param; });
