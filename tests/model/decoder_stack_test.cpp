// decoder_stack (issue 11): config validation, fusion / fault names, seeded weights, the device matmul, the
// checkpoint error metrics, and a short lockstep run of reference vs device.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "core/model/decoder_stack.h"
#include "device/model/decoder_ops.h"
#include "oracle/bisect/decoder_bisect.h"
#include "reference/model/decoder_stack.h"

namespace lockstep {
namespace {

using model::DecoderConfig;

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DecoderStack, ValidateNamesFieldAndValue) {
  DecoderConfig c;
  c.topk = 9;
  EXPECT_NE(error_of([&] { model::validate(c); }).find("decoder.topk = 9: must be in [1, 8]"), std::string::npos);
  c = {};
  c.experts = 2;
  c.topk = 3;
  EXPECT_NE(error_of([&] { model::validate(c); }).find("decoder.topk = 3: must be <= experts (2)"), std::string::npos);
  c = {};
  c.layers = 0;
  EXPECT_NE(error_of([&] { model::validate(c); }).find("decoder.layers = 0"), std::string::npos);
  c = {};
  c.q_heads = 3;
  EXPECT_NE(error_of([&] { model::validate(c); }).find("decoder.q_heads = 3: must be a multiple of kv_heads (2)"),
            std::string::npos);
  c = {};
  c.head_dim = 7;
  EXPECT_NE(error_of([&] { model::validate(c); }).find("decoder.head_dim = 7"), std::string::npos);
  EXPECT_NO_THROW(model::validate(DecoderConfig{}));
}

TEST(DecoderStack, LayerTypesFiveSlidingOneFull) {
  DecoderConfig c;
  int full = 0;
  for (int64_t l = 0; l < c.layers; ++l) full += model::layer_type(c, l) == model::LayerType::full;
  EXPECT_EQ(full, 1);
  EXPECT_EQ(model::layer_type(c, 5), model::LayerType::full);
  EXPECT_EQ(model::layer_head_dim(c, 5), c.full_head_dim);
  EXPECT_EQ(model::layer_head_dim(c, 0), c.head_dim);
  c.layers = 3;  // the last layer is always full
  EXPECT_EQ(model::layer_type(c, 2), model::LayerType::full);
  EXPECT_EQ(model::layer_type(c, 1), model::LayerType::sliding);
}

TEST(DecoderStack, FusionAndFaultNames) {
  EXPECT_EQ(model::parse_fusions("all", "--fusions"), model::kAllFusions);
  EXPECT_EQ(model::parse_fusions("none", "--fusions"), 0u);
  const model::FusionSet s = model::parse_fusions("routing,kv_write", "--fusions");
  EXPECT_EQ(s, (1u << static_cast<int>(model::Fusion::routing)) | (1u << static_cast<int>(model::Fusion::kv_write)));
  EXPECT_EQ(model::fusion_set_str(s), "kv_write,routing");
  EXPECT_NE(error_of([] { model::parse_fusions("routing,bogus", "--fusions"); }).find("--fusions = bogus: unknown fusion"),
            std::string::npos);
  EXPECT_EQ(model::parse_decoder_fault("none", "--fault"), model::DecoderFault::none);
  EXPECT_EQ(model::parse_decoder_fault("kv_written_bf16_read_as_f16", "--fault"),
            model::DecoderFault::kv_written_bf16_read_as_f16);
  EXPECT_NE(error_of([] { model::parse_decoder_fault("nope", "--fault"); }).find("--fault = nope: unknown decoder_stack fault"),
            std::string::npos);
  for (int i = 1; i < model::kNumDecoderFaults; ++i)  // every fault lives on one fusion
    EXPECT_NO_THROW(model::fault_fusion(static_cast<model::DecoderFault>(i)));
  EXPECT_EQ(model::parse_op("ffn_tail", "--op"), model::DecoderOp::ffn_tail);
}

TEST(DecoderStack, WeightsAreSeededAndBf16) {
  DecoderConfig c;
  c.layers = 2;
  const model::DecoderWeights a = model::make_weights(c), b = model::make_weights(c);
  c.seed = 2;
  const model::DecoderWeights d = model::make_weights(c);
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_EQ(a.layers[1].wq.v, b.layers[1].wq.v);
  EXPECT_NE(a.layers[1].wq.v, d.layers[1].wq.v);
  for (float x : a.layers[0].w_router.v) EXPECT_EQ(x, to_float(to_bf16(x)));
  for (float x : a.layers[1].router_scale) EXPECT_EQ(x, to_float(to_bf16(x)));
  const model::StepInput s0 = model::make_step_input(c, 0), s3 = model::make_step_input(c, 3);
  EXPECT_EQ(s0.x.rows, c.prefill);
  EXPECT_EQ(s0.kv_len, c.prefill);
  EXPECT_EQ(s3.x.rows, 1);
  EXPECT_EQ(s3.positions, std::vector<int32_t>{static_cast<int32_t>(c.prefill + 2)});
  EXPECT_EQ(s3.kv_len, c.prefill + 3);
  EXPECT_TRUE(s3.decode);
  const model::PageLayout p = model::make_page_layout(c);
  EXPECT_EQ(static_cast<int64_t>(p.page_indices.size()) * c.page_size >= c.total_tokens(), true);
  std::vector<int32_t> sorted = p.page_indices;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());  // distinct pages
  for (int32_t x : p.page_indices) EXPECT_LT(x, p.num_pages);
}

TEST(DecoderStack, DeviceMatmulAccumulatesInFp32RoundsOnce) {
  model::Mat x(1, 3), w(2, 3);
  x.v = {1.0f, 2.0f, 3.0f};
  w.v = {1.0f, 1.0f, 1.0f, 0.5f, -1.0f, 256.0f};
  const model::Mat y = device::matmul_bf16(x, w);
  EXPECT_EQ(y.v[0], 6.0f);
  EXPECT_EQ(y.v[1], 768.0f);  // 0.5 - 2 + 768 = 766.5 exactly in fp32; bf16 spacing in [512, 1024) is 4 -> 768
}

TEST(DecoderBisect, ErrorStatsHandComputed) {
  const std::vector<float> ref{1.0f, 2.0f, -4.0f, 0.0f};
  const std::vector<float> dev{1.0f, 2.0078125f, -4.0f, 0.0f};
  const bisect::ErrorStats s = bisect::error_stats(dev, ref, false);
  EXPECT_DOUBLE_EQ(s.max_abs, 0.0078125);
  EXPECT_DOUBLE_EQ(s.max_rel, 0.0078125 / 2);
  EXPECT_DOUBLE_EQ(s.nmse, 0.0078125 * 0.0078125 / 21.0);
  EXPECT_DOUBLE_EQ(s.ulps, 0.0078125 / 0.03125);  // unit = ulp_bf16(4) = 2^-5
  EXPECT_EQ(s.ulp_hist[0], 3);                     // three exact elements
  EXPECT_EQ(s.ulp_hist[1], 1);                     // 0.0078125 / ulp_bf16(2) = 0.5
  const bisect::ErrorStats ids = bisect::error_stats({0, 3, 5}, {0, 4, 5}, true);
  EXPECT_EQ(ids.id_mismatches, 1);
  const bisect::ErrorStats nan = bisect::error_stats({NAN}, {1.0f}, false);
  EXPECT_TRUE(std::isinf(nan.ulps));
  EXPECT_EQ(nan.ulp_hist[7], 1);
}

TEST(DecoderBisect, BudgetFollowsTheChainOfRoundings) {
  using model::DecoderOp;
  EXPECT_EQ(bisect::op_roundings(DecoderOp::post_attn_norm, model::kAllFusions), 1);
  EXPECT_EQ(bisect::op_roundings(DecoderOp::post_attn_norm, 0), 4);
  EXPECT_EQ(bisect::op_roundings(DecoderOp::experts, model::kAllFusions), 4);
  EXPECT_EQ(bisect::op_roundings(DecoderOp::experts, 0), 5);
  EXPECT_DOUBLE_EQ(bisect::op_budget_ulps(DecoderOp::qkv_proj, 0), 1.05);
}

TEST(DecoderBisect, ShortRunLocalErrorIsTheOutputRounding) {
  DecoderConfig c;
  c.layers = 2;
  c.prefill = 5;
  c.decode_steps = 3;
  const model::DecoderWeights w = model::make_weights(c);
  const bisect::ReferenceTrace ref = bisect::run_reference(c, w);
  bisect::RunOptions opt;
  opt.budget.value = 1;
  const bisect::StackRun run = bisect::run_lockstep(ref, w, opt);
  ASSERT_EQ(static_cast<int64_t>(run.checkpoints.size()), c.steps() * c.layers * model::kNumDecoderOps);
  EXPECT_EQ(run.first_over(), nullptr);
  for (const bisect::Checkpoint& cp : run.checkpoints) {
    if (cp.op != model::DecoderOp::qkv_proj && cp.op != model::DecoderOp::input_norm) continue;
    for (const bisect::PartRecord& p : cp.parts) {
      EXPECT_LE(p.local.ulps, 0.5 + 1e-9) << model::op_name(cp.op);  // one rounding of an fp32 result
      ASSERT_EQ(p.device.size(), p.local_ref.size());
    }
  }
  // Same config, same bytes.
  const bisect::StackRun again = bisect::run_lockstep(ref, w, opt);
  EXPECT_EQ(again.checkpoints.back().parts[0].device, run.checkpoints.back().parts[0].device);
  // The reference trace of step 0 layer 0 input_norm equals the local reference there (same inputs).
  EXPECT_EQ(run.checkpoints[0].parts[0].local_ref, run.checkpoints[0].parts[0].global_ref);
}

}  // namespace
}  // namespace lockstep
