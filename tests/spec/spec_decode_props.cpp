// Stateful suites of the speculative scheduler joined with the hybrid KV pools and the FROZEN_KV_MTP
// draft (issue 15; ctest label: property), v1 and v2 separately:
// 1. generated command sequences (the `lockstep fuzz` generator) run in lockstep: greedy equivalence,
//    every invariant of spec §5.5, the leak invariant of both pools (§4.5), the read check of every
//    attention call's page tables, and reference == device (draft tokens, verify arrays, state) after
//    every step;
// 2. the same as a rapidcheck state machine (rapidcheck/state.h) over add / prefill / decode (plain, v1,
//    v2) / merge / filter / abort / retract (a request finishes through max_new_tokens or a stop token):
//    commands drawn one at a time, shrinking to the shortest failing command sequence. With the ctest
//    RC_PARAMS (max_success=500) the two machines run 1,000 sequences.
#include <sstream>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "fuzz/spec/spec_decode.h"
#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/report.h"
#include "oracle/spec/spec_decode.h"

using namespace lockstep;

namespace lockstep {
/// Counterexample printing for rapidcheck: the canonical case string.
inline void showValue(const SpecDecodeCase& c, std::ostream& os) { os << oracle::find_op("spec_decode").case_string(c); }
}  // namespace lockstep

namespace {

void check_sequence(SpecPath path) {
  const SpecDecodeCase c = *fuzz::gen_spec_case(path);
  const auto r = oracle::find_op("spec_decode").run(std::any(c), {});
  RC_TAG(c.num_draft_tokens);
  if (!r.report.passed) {
    std::string cmds;
    for (int64_t i = 0; i < c.num_commands(); ++i) {
      cmds += "  ";
      cmds += c.command(i).describe();
      cmds += '\n';
    }
    std::string text = oracle::to_text(r.report);
    text += "commands:\n";
    text += cmds;
    RC_FAIL(text);
  }
}

struct Model {
  SpecDecodeCase params;
  int64_t steps = 0;
};
struct Sut {
  std::unique_ptr<oracle::SpecLockstep> lockstep;
};

struct Step : rc::state::Command<Model, Sut> {
  SpecCommand cmd;
  explicit Step(const Model& m) : cmd(*fuzz::gen_spec_command(m.params.vocab_size)) {}
  void apply(Model& m) const override { ++m.steps; }
  void run(const Model& m, Sut& s) const override {
    const auto failures = s.lockstep->step(cmd, m.steps);
    if (!failures.empty()) RC_FAIL(failures.front());
  }
  void show(std::ostream& os) const override { os << cmd.describe(); }
};

void check_state_machine(SpecPath path, const std::string& fault = "") {
  Model m;
  m.params = *fuzz::gen_spec_case(path);  // the run's parameters; its commands are not used
  Sut s{std::make_unique<oracle::SpecLockstep>(m.params, oracle::RunOptions{Backend::cpu, fault})};
  rc::state::check(m, s, rc::state::gen::execOneOfWithArgs<Step>());
}

}  // namespace

RC_GTEST_PROP(SpecDecodeV1, CommandSequencesRunInLockstepAndStayGreedy, ()) { check_sequence(SpecPath::v1); }
RC_GTEST_PROP(SpecDecodeV2, CommandSequencesRunInLockstepAndStayGreedy, ()) { check_sequence(SpecPath::v2); }
RC_GTEST_PROP(SpecDecodePlain, CommandSequencesRunInLockstepAndStayGreedy, ()) { check_sequence(SpecPath::plain); }
RC_GTEST_PROP(SpecDecodeV1, StateMachine, ()) { check_state_machine(SpecPath::v1); }
RC_GTEST_PROP(SpecDecodeV2, StateMachine, ()) { check_state_machine(SpecPath::v2); }

TEST(SpecDecodeStateMachine, FindsAndShrinksAFault) {
  // rc::check runs the state machine until it fails; shrinking is rapidcheck's own (printed).
  const bool passed = rc::check("bonus_not_counted", [] { check_state_machine(SpecPath::v2, "bonus_not_counted"); });
  EXPECT_FALSE(passed);
}

TEST(SpecDecodeStateMachine, FindsTheDraftViewClampFault) {
  // The joined model's state machine finds the clamp (wrong SWA pages, no OOB) through the drafts' divergence.
  const bool passed =
      rc::check("draft_view_clamp_page_index", [] { check_state_machine(SpecPath::v2, "draft_view_clamp_page_index"); });
  EXPECT_FALSE(passed);
}

TEST(SpecDecodeCoverage, GeneratedSequencesReachTheEdges) {
  // Over the 500 sequences of a default campaign: large batches, every N, stop tokens inside
  // multi-token steps (v2's LENGTH-over-stop edge), zero-accept steps, skipped (OOM) steps.
  const oracle::Op& op = oracle::find_op("spec_decode");
  int64_t max_bs = 0, length_over_stop = 0, zero_steps = 0, merges_of_big = 0, swa_evictions = 0, draft_calls = 0,
          paged_draft_calls = 0;
  bool n_seen[kSpecMaxDraftTokens + 1] = {};
  for (int64_t i = 0; i < 500; ++i) {
    const auto any = oracle::campaign_case(op, 1, i).value();
    const auto& c = std::any_cast<const SpecDecodeCase&>(any);
    n_seen[c.num_draft_tokens] = true;
    oracle::SpecLockstep ls(c, {});
    for (int64_t k = 0; k < c.num_commands(); ++k) {
      const auto v = ls.step(c.command(k), k);
      ASSERT_TRUE(v.empty()) << v[0];
      for (const auto& b : ls.reference().batches()) max_bs = std::max<int64_t>(max_bs, b.reqs.size());
      if (c.command(k).kind == SpecCommandKind::merge && !ls.reference().batches().empty() &&
          ls.reference().batches()[0].reqs.size() > 4)
        ++merges_of_big;
    }
    length_over_stop += ls.reference().stats().length_over_stop;
    swa_evictions += ls.reference().stats().swa_evictions;
    draft_calls += ls.reference().stats().draft_calls;
    if (c.page_size > 1) paged_draft_calls += ls.reference().stats().draft_calls;
    zero_steps += ls.reference().stats().zero_accept_steps;
  }
  for (int64_t n = 1; n <= kSpecMaxDraftTokens; ++n) EXPECT_TRUE(n_seen[n]) << "N = " << n;
  EXPECT_GE(max_bs, 12);
  EXPECT_GT(length_over_stop, 0);
  EXPECT_GT(zero_steps, 0);
  EXPECT_GT(merges_of_big, 0);
  EXPECT_GT(swa_evictions, 100);
  EXPECT_GT(draft_calls, 1000);
  EXPECT_GT(paged_draft_calls, 100);
}
