// lockstep bisect over the decoder stack (issue 11 acceptance): each drift fault is found by --where at the
// injected (step, layer, op) and by --which-fusion as exactly its fusion out of the 8 toggles; without a fault
// the whole stack (6 layers, 16 prefill + 64 decode steps) stays within budget for several seeds and fusion
// sets, and the report shows the per-op budget used.
#include <gtest/gtest.h>

#include "core/data.h"
#include "core/model/decoder_stack.h"
#include "oracle/bisect/decoder_bisect.h"

namespace lockstep {
namespace {

using model::DecoderFault;
using model::DecoderOp;

struct Expected {
  DecoderFault fault;
  int64_t step, layer;
  DecoderOp op;
};

// Where each fault first acts: the fused triple norm and the fused routing kernel at the first layer's first
// call (the prefill); the decode-only position bug and the cache read at the first decode step, where the
// first layer first reads a cached key.
const Expected kExpected[] = {
    {DecoderFault::fused_norm_accumulates_in_bf16, 0, 0, DecoderOp::post_attn_norm},
    {DecoderFault::rope_position_off_by_one_on_decode, 1, 0, DecoderOp::rope},
    {DecoderFault::routing_weights_not_scaled, 0, 0, DecoderOp::routing},
    {DecoderFault::kv_written_bf16_read_as_f16, 1, 0, DecoderOp::attention},
};

class DriftFault : public ::testing::TestWithParam<Expected> {};

TEST_P(DriftFault, WhereNamesTheInjectedStepLayerOp) {
  const Expected e = GetParam();
  for (int64_t seed : {1, 2}) {
    model::DecoderConfig c;
    c.seed = seed;
    c.decode_steps = 8;
    const model::DecoderWeights w = model::make_weights(c);
    const bisect::ReferenceTrace ref = bisect::run_reference(c, w);
    bisect::RunOptions opt;
    opt.budget.value = 1;
    opt.fault = e.fault;
    const bisect::StackRun run = bisect::run_lockstep(ref, w, opt);
    const bisect::Checkpoint* bad = run.first_over();
    ASSERT_NE(bad, nullptr) << model::fault_name(e.fault) << " seed " << seed;
    EXPECT_EQ(bad->step, e.step) << model::fault_name(e.fault);
    EXPECT_EQ(bad->layer, e.layer) << model::fault_name(e.fault);
    EXPECT_EQ(bad->op, e.op) << model::fault_name(e.fault) << ": " << model::op_name(bad->op);
    const std::string report = bisect::where_report(run, ref);
    EXPECT_NE(report.find(fmt::format("drift starts at step {} layer {} op {}", e.step, e.layer, model::op_name(e.op))),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("<== first over budget"), std::string::npos) << report;
  }
}

TEST_P(DriftFault, WhichFusionNamesExactlyTheInjectedFusion) {
  const Expected e = GetParam();
  model::DecoderConfig c;
  c.decode_steps = 8;
  const model::DecoderWeights w = model::make_weights(c);
  const bisect::ReferenceTrace ref = bisect::run_reference(c, w);
  bisect::RunOptions opt;
  opt.budget.value = 1;
  opt.fault = e.fault;
  static_assert(model::kNumFusions >= 6);
  const bisect::WhichFusionResult r = bisect::which_fusion(ref, w, model::kAllFusions, opt);
  EXPECT_TRUE(r.start_over);
  EXPECT_FALSE(r.none_over);
  EXPECT_EQ(r.minimal, 1u << static_cast<int>(model::fault_fusion(e.fault))) << r.report;
  // Each distinct set is run once (cached), and ddmin needs far fewer than the 2^8 subsets.
  for (size_t i = 0; i < r.runs.size(); ++i)
    for (size_t j = i + 1; j < r.runs.size(); ++j) EXPECT_NE(r.runs[i].first, r.runs[j].first);
  EXPECT_LE(r.runs.size(), 2u * 3u * 2u + 2u) << r.report;  // O(k log n): k = 1, n = 8
  // Without the fault's fusion in the starting set there is nothing to bisect.
  const bisect::WhichFusionResult off =
      bisect::which_fusion(ref, w, model::kAllFusions & ~r.minimal, opt);
  EXPECT_FALSE(off.start_over) << off.report;
}

INSTANTIATE_TEST_SUITE_P(All, DriftFault, ::testing::ValuesIn(kExpected),
                         [](const auto& info) { return std::string(model::fault_name(info.param.fault)); });

// No fault: every checkpoint of 6 layers x (prefill + 64 decode steps) within budget, over deterministic seeds
// and fusion sets (all, none, and seeded random subsets).
TEST(DecoderBisectProps, NoFaultStaysWithinBudgetFor64DecodeSteps) {
  SplitMix rng{20261201};
  for (int64_t seed : {1, 2, 3, 4, 5}) {
    model::DecoderConfig c;
    c.seed = seed;
    c.decode_steps = 64;
    const model::DecoderWeights w = model::make_weights(c);
    const bisect::ReferenceTrace ref = bisect::run_reference(c, w);
    for (model::FusionSet fusions :
         {model::kAllFusions, model::FusionSet{0}, static_cast<model::FusionSet>(rng.below(model::kAllFusions + 1))}) {
      bisect::RunOptions opt;
      opt.budget.value = 1;
      opt.fusions = fusions;
      opt.keep_values = false;
      const bisect::StackRun run = bisect::run_lockstep(ref, w, opt);
      ASSERT_EQ(static_cast<int64_t>(run.checkpoints.size()), c.steps() * c.layers * model::kNumDecoderOps);
      const bisect::Checkpoint* bad = run.first_over();
      EXPECT_EQ(bad, nullptr) << "seed " << seed << " fusions " << model::fusion_set_str(fusions) << ": "
                              << bisect::where_report(run, ref);
      const std::string table = bisect::budget_table(run);
      for (int op = 0; op < model::kNumDecoderOps; ++op)
        EXPECT_NE(table.find(model::op_name(static_cast<DecoderOp>(op))), std::string::npos) << table;
    }
  }
}

// An absolute budget: the same runs, judged by max abs error; a fault with a large absolute effect is found.
TEST(DecoderBisectProps, AbsoluteBudget) {
  model::DecoderConfig c;
  c.decode_steps = 4;
  const model::DecoderWeights w = model::make_weights(c);
  const bisect::ReferenceTrace ref = bisect::run_reference(c, w);
  bisect::RunOptions opt;
  opt.budget = {true, 0.1};
  opt.fault = DecoderFault::kv_written_bf16_read_as_f16;
  const bisect::StackRun run = bisect::run_lockstep(ref, w, opt);
  ASSERT_NE(run.first_over(), nullptr);
  EXPECT_EQ(run.first_over()->op, DecoderOp::attention);
  EXPECT_NE(bisect::where_report(run, ref).find("budget: absolute"), std::string::npos);
}

}  // namespace
}  // namespace lockstep
