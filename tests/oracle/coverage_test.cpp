// Coverage of the case space: the campaign of README command (1), `lockstep fuzz --cases 2000` (seed 1,
// first case 0, every registered op), reaches every region each op declares.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "oracle/campaign.h"

namespace lockstep::oracle {
namespace {

/// Regions known to be unreachable today. Each must really be missing (so the entry is removed the day
/// the generator reaches it).
const std::set<std::pair<std::string, std::string>> kExpectedMissing = {};

TEST(Coverage, RegionsAreDeclaredOnceAsAxisEqualsValue) {
  for (const auto& op : registry()) {
    const auto regions = op->coverage_regions();
    EXPECT_GE(regions.size(), 5u) << op->name();
    std::set<std::string> seen;
    for (const std::string& r : regions) {
      EXPECT_TRUE(seen.insert(r).second) << op->name() << ": " << r << " declared twice";
      const size_t eq = r.find('=');
      EXPECT_TRUE(eq != std::string::npos && eq > 0 && eq + 1 < r.size()) << op->name() << ": " << r;
    }
  }
  for (const auto& [op, region] : kExpectedMissing) {
    const auto regions = find_op(op).coverage_regions();
    EXPECT_NE(std::find(regions.begin(), regions.end(), region), regions.end()) << op << ": " << region;
  }
}

TEST(Coverage, FuzzCases2000ReachesEveryDeclaredRegionOfEveryOp) {
  for (const auto& op : registry()) {
    CampaignOptions o;  // the `lockstep fuzz` defaults: seed 1, first case 0
    o.cases = 2000;
    o.dump_dir = "";
    const CampaignResult r = run_campaign(*op, o);
    ASSERT_EQ(r.cases_run, 2000) << op->name() << " failed a case: " << (r.first_failure ? to_text(r.first_failure->shrunk) : "");
    ASSERT_EQ(r.coverage.size(), op->coverage_regions().size());
    for (const auto& [region, count] : r.coverage) {
      if (kExpectedMissing.count({op->name(), region})) {
        EXPECT_EQ(count, 0) << op->name() << ": " << region << " is reached now: remove it from kExpectedMissing";
      } else {
        EXPECT_GT(count, 0) << op->name() << ": region " << region << " never reached in 2000 cases";
      }
    }
  }
}

// The counters discriminate: a campaign of 3 cases does not reach every region of any op, and every count
// is at most the number of cases.
TEST(Coverage, ShortCampaignsMissRegions) {
  for (const auto& op : registry()) {
    CampaignOptions o;
    o.cases = 3;
    o.dump_dir = "";
    const CampaignResult r = run_campaign(*op, o);
    EXPECT_FALSE(r.missing_regions().empty()) << op->name();
    for (const auto& [region, count] : r.coverage) EXPECT_LE(count, r.cases_run) << op->name() << ": " << region;
  }
}

}  // namespace
}  // namespace lockstep::oracle
