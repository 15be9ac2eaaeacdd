// kv_trace's additions to the fault suite (tests/oracle/faults_test.cpp runs every fault's campaign and the
// campaign without fault): shrinking never adds commands; clamp_page_index's shrunk failure has no
// out-of-range read but a diverging SWA page table; and the seed's PR #5 situation by hand.
#include <filesystem>

#include <gtest/gtest.h>

#include "core/kvcache/kv_trace.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/fault_campaign.h"
#include "oracle/replay.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

const lockstep::testing::RegisterOpSuiteHooks kHooks("kv_trace", [] {
  lockstep::testing::OpSuiteHooks h;
  h.on_fault = [](const Op& op, const std::string& fault, const CampaignFailure& f) {
    const auto& shrunk = std::any_cast<const KvTraceCase&>(f.shrunk_case);
    const auto original = campaign_case(op, 1, f.case_index).value();
    EXPECT_LE(shrunk.num_commands(), std::any_cast<const KvTraceCase&>(original).num_commands());
    if (fault == "clamp_page_index") {
      // The clamp hides the out-of-range read, but the divergence is flagged.
      const Report& rep = f.shrunk;
      EXPECT_TRUE(rep.device_oob.empty()) << "the clamp leaves no out-of-range read";
      bool diverged = false;
      for (const TensorDiff& d : rep.outputs) diverged |= d.name == "swa_page_tables" && !d.passed;
      EXPECT_TRUE(diverged) << to_text(rep);
    }
  };
  return h;
}());

}  // namespace

// The seed's PR #5 situation by hand: SWA state not swapped, page indices clamped into the SWA cache.
// A finished request shifts the SWA free list, so request B's full slots 7..11 differ from its SWA slots
// 7, 8, 1, 2, 3; the clamp maps 9..11 to the last SWA page: no OOB anywhere, but the attention read
// through the clamped table diverges from the reference (and without the clamp the kernel reports OOB).
TEST(KvTraceFaults, ClampedAttentionDivergesWhereTheUnclampedOneReadsOutOfRange) {
  KvTraceCase c;
  c.page_size = 1;
  c.full_size = 16;
  c.swa_size = 8;
  c.window = 8;
  c.req_slots = 2;
  c.max_context = 16;
  c.commands = Tensor::from<int32_t>({6, 3}, {0, 0, 0, 1, 0, 6, 3, 0, 0, 0, 0, 0, 1, 0, 5, 2, 0, 1});
  const Op& op = find_op("kv_trace");
  EXPECT_TRUE(op.run(std::any(c), RunOptions{}).report.passed);
  const Report clamp = op.run(std::any(c), RunOptions{Backend::cpu, "clamp_page_index"}).report;
  EXPECT_FALSE(clamp.passed);
  EXPECT_TRUE(clamp.device_oob.empty());
  bool attention_failed = false;
  for (const std::string& f : clamp.failures) attention_failed |= f.rfind("attention:", 0) == 0;
  EXPECT_TRUE(attention_failed) << to_text(clamp);
  const Report unswapped = op.run(std::any(c), RunOptions{Backend::cpu, "swa_state_not_swapped"}).report;
  bool attention_oob = false;
  for (const std::string& f : unswapped.failures) attention_oob |= f.rfind("attention kernel read", 0) == 0;
  EXPECT_TRUE(attention_oob) << to_text(unswapped);
}
