// spec_decode's additions to the fault suite (tests/oracle/faults_test.cpp runs every fault's campaign and
// the campaign without fault): each verify fault (seed 004) is detected within 200 command sequences and
// shrinks to at most 8 commands; each fault of the joined model (issue 15: the draft's pool view, its
// prepare_for_decode, the v2 over-allocation after a SWA eviction) within 1,000 and to at most 6 commands
// (never more than the generated sequence); 500 sequences without fault pass and report a mean accept
// length of at least 1. The clamp fault's campaign reads no bad entry but accepts fewer drafts than the
// clean (reference) side of the same sequences.
#include <cstdio>

#include <gtest/gtest.h>

#include "core/spec/spec_decode.h"
#include "oracle/spec/spec_decode.h"
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
    const bool joined = fault.rfind("draft_", 0) == 0 || fault.rfind("v2_overallocation", 0) == 0;
    EXPECT_LT(f.case_index, joined ? 1000 : 200) << fault;
    const auto& shrunk = std::any_cast<const SpecDecodeCase&>(f.shrunk_case);
    const std::any original = campaign_case(op, 1, f.case_index).value();
    EXPECT_LE(shrunk.num_commands(), std::any_cast<const SpecDecodeCase&>(original).num_commands());
    EXPECT_LE(shrunk.num_commands(), joined ? 6 : 8) << f.shrunk.case_string;
  };
  return h;
}());

}  // namespace

TEST(SpecDecodeJoinedFaults, ClampReadsNoBadEntryButLowersTheMeanAcceptLength) {
  // The seed's measurement (E4B 2.13 -> 1.61 with the clamp): over the default campaign's first 300 sequences,
  // the device side (clamped draft tables) against the reference side (the clean run) of the same commands.
  const Op& op = find_op("spec_decode");
  int64_t ref_verifies = 0, ref_accepted = 0, dev_verifies = 0, dev_accepted = 0, dev_oob = 0;
  for (int64_t i = 0; i < 300; ++i) {
    const auto any = campaign_case(op, 1, i).value();
    const auto& c = std::any_cast<const SpecDecodeCase&>(any);
    SpecLockstep ls(c, RunOptions{Backend::cpu, "draft_view_clamp_page_index"});
    for (int64_t k = 0; k < c.num_commands(); ++k) ls.step(c.command(k), k);
    ref_verifies += ls.reference().stats().verifies;
    ref_accepted += ls.reference().stats().accepted_drafts;
    dev_verifies += ls.device().stats().verifies;
    dev_accepted += ls.device().stats().accepted_drafts;
    dev_oob += ls.device().stats().oob_reads;
  }
  ASSERT_GT(ref_verifies, 0);
  ASSERT_GT(dev_verifies, 0);
  const double ref_mean = 1.0 + static_cast<double>(ref_accepted) / static_cast<double>(ref_verifies);
  const double dev_mean = 1.0 + static_cast<double>(dev_accepted) / static_cast<double>(dev_verifies);
  RecordProperty("clean_mean_accept_length", std::to_string(ref_mean));
  RecordProperty("clamp_mean_accept_length", std::to_string(dev_mean));
  std::printf("mean accept length over 300 sequences: clean %.4f, clamp %.4f\n", ref_mean, dev_mean);
  EXPECT_EQ(dev_oob, 0);
  EXPECT_LT(dev_mean, ref_mean);
}

TEST(SpecDecodeJoinedFaults, SwaStateNotSwappedReadsPastTheSwaCacheInTheCampaign) {
  // The unswapped view's full-pool page indices run past the (smaller) SWA cache: the kernel's read walk reports
  // them (the shrunk campaign failure may be an in-range wrong page instead, which the drafts' divergence shows).
  const Op& op = find_op("spec_decode");
  int64_t ref_oob = 0, dev_oob = 0, failing = 0;
  for (int64_t i = 0; i < 300; ++i) {
    const auto any = campaign_case(op, 1, i).value();
    const auto& c = std::any_cast<const SpecDecodeCase&>(any);
    SpecLockstep ls(c, RunOptions{Backend::cpu, "draft_view_swa_state_not_swapped"});
    bool failed = false;
    for (int64_t k = 0; k < c.num_commands(); ++k) failed |= !ls.step(c.command(k), k).empty();
    ref_oob += ls.reference().stats().oob_reads;
    dev_oob += ls.device().stats().oob_reads;
    failing += failed;
  }
  std::printf("not swapped, 300 sequences: %lld failing, %lld OOB reads on the device side\n",
              static_cast<long long>(failing), static_cast<long long>(dev_oob));
  EXPECT_EQ(ref_oob, 0);
  EXPECT_GT(dev_oob, 0);
  EXPECT_GT(failing, 0);
}
