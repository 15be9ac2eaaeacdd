// Golden values of shared/spec/gemma4-kvcache-speculative.md §1.3 (the sortable-key table, the edge cases
// that follow from the bit rule, the S > 0 guard) and decision 7, on the reference and the device kernel,
// plus the validation errors and one case where HF's probability order (§1.2) differs.
#include <cmath>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/error.h"
#include "device/moe/moe_routing.h"
#include "device/moe/moe_routing_kernel.h"
#include "oracle/op.h"
#include "reference/moe/moe_routing.h"

using namespace lockstep;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kPosNan = bits_float(0x7FC00000u);
const float kNegNan = bits_float(0xFFC00000u);

MoeRoutingCase make(int64_t T, int64_t E, const std::vector<float>& logits, int64_t K,
                    std::vector<float> scale = {}, DType dtype = DType::f32) {
  MoeRoutingCase c;
  c.topk = K;
  if (scale.empty()) scale.assign(static_cast<size_t>(E), 1.0f);
  c.gating_output = Tensor(dtype, {T, E});
  for (int64_t i = 0; i < T * E; ++i) {
    std::byte* p = c.gating_output.raw() + static_cast<size_t>(i) * dtype_size(dtype);
    const float x = logits[static_cast<size_t>(i)];
    if (dtype == DType::bf16) { const bf16 v = to_bf16(x); std::memcpy(p, &v, 2); }
    else if (dtype == DType::f16) { const f16 v = to_f16(x); std::memcpy(p, &v, 2); }
    else std::memcpy(p, &x, 4);
  }
  c.per_expert_scale = Tensor::from<float>({E}, scale);
  return c;
}

std::vector<int32_t> ids(const MoeRoutingOutputs& o) {
  auto s = o.topk_ids.span<int32_t>();
  return {s.begin(), s.end()};
}
std::vector<float> weights(const MoeRoutingOutputs& o) {
  auto s = o.topk_weights.span<float>();
  return {s.begin(), s.end()};
}

/// The reference, after checking the op's full comparison (device on the CPU launcher and staged) passes.
MoeRoutingOutputs run(const MoeRoutingCase& c) {
  const auto& op = oracle::find_op("moe_routing");
  for (Backend b : {Backend::cpu, Backend::staged}) {
    oracle::RunOptions opt;
    opt.backend = b;
    const auto r = op.run(std::any(c), opt);
    EXPECT_TRUE(r.report.passed) << oracle::to_text(r.report);
  }
  return reference::moe_routing(c);
}

}  // namespace

// §1.3 "Key values (computed)", in the spec's ascending order.
TEST(MoeRoutingKey, SpecKeyTable) {
  const std::vector<std::pair<float, int32_t>> table = {
      {kPosNan, -2143289345}, {kInf, -2139095041}, {3.0f, -1077936129}, {1.0f, -1065353217}, {0.0f, -1},
      {-0.0f, 0},             {-1.0f, 1065353216}, {-3.0f, 1077936128}, {-kInf, 2139095040}, {kNegNan, 2143289344}};
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(device::routing_sort_key(table[i].first), table[i].second) << i;
    EXPECT_EQ(float_bits(device::routing_key_value(table[i].second)), float_bits(table[i].first)) << i;
    if (i == 0) continue;
    EXPECT_LT(table[i - 1].second, table[i].second);
    EXPECT_TRUE(reference::routing_ranks_before(table[i - 1].first, 7, table[i].first, 0)) << i;
    EXPECT_FALSE(reference::routing_ranks_before(table[i].first, 0, table[i - 1].first, 7)) << i;
  }
  EXPECT_LT(2143289344, 0x7FFFFFFF);  // the invalid lane's key is above every value's
  // Packed: ascending int64 = ascending key, then ascending lane.
  EXPECT_LT(device::routing_pack(-1, 5), device::routing_pack(0, 0));
  EXPECT_LT(device::routing_pack(-1077936129, 3), device::routing_pack(-1077936129, 4));
  EXPECT_LT(device::routing_pack(2143289344, 1000), device::routing_pack(0x7FFFFFFF, 0));
  EXPECT_EQ(device::routing_packed_lane(device::routing_pack(-5, 77)), 77u);
  EXPECT_EQ(device::routing_packed_key(device::routing_pack(-5, 77)), -5);
}

TEST(MoeRoutingKey, NanPayloadsOrderLikeTheirBits) {
  const float p0 = bits_float(0x7FC00000u), p1 = bits_float(0x7FC10000u);
  const float n0 = bits_float(0xFFC00000u), n1 = bits_float(0xFFC10000u);
  EXPECT_LT(device::routing_sort_key(p1), device::routing_sort_key(p0));
  EXPECT_TRUE(reference::routing_ranks_before(p1, 1, p0, 0));
  EXPECT_LT(device::routing_sort_key(n0), device::routing_sort_key(n1));
  EXPECT_TRUE(reference::routing_ranks_before(n0, 1, n1, 0));
  const auto o = run(make(1, 4, {n1, p0, n0, p1}, 4));
  EXPECT_EQ(ids(o), (std::vector<int32_t>{3, 1, 2, 0}));
}

// The spec's ten values in a shuffled row with K = E: the output order is the key table's.
TEST(MoeRouting, SpecOrderOfSpecialValues) {
  //                          0     1      2     3      4     5     6      7      8      9
  const std::vector<float> row{-1.0f, kNegNan, 3.0f, -0.0f, -kInf, 1.0f, kPosNan, 0.0f, -3.0f, kInf};
  const auto o = run(make(1, 10, row, 10));
  EXPECT_EQ(ids(o), (std::vector<int32_t>{6, 9, 2, 5, 7, 3, 0, 8, 4, 1}));
  for (float w : weights(o)) EXPECT_TRUE(std::isnan(w));  // max = +NaN: every r is NaN, S := 1
}

TEST(MoeRouting, TiesGoToTheLowestId) {
  const auto o = run(make(1, 4, {1, 3, 3, 2}, 2, {1.0f, 0.5f, 0.25f, 1.0f}));
  EXPECT_EQ(ids(o), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(weights(o), (std::vector<float>{0.25f, 0.125f}));  // softmax(3, 3) = (1/2, 1/2) times the scale
  const auto all = run(make(1, 5, {2, 2, 2, 2, 2}, 5));
  EXPECT_EQ(ids(all), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(weights(all), (std::vector<float>(5, 0.2f)));
}

TEST(MoeRouting, SoftmaxOverTheSelectedTimesScale) {
  // logits (0, 2, 1), K = 2: softmax(2, 1) = (1/(1+e^-1), e^-1/(1+e^-1)); the unselected expert 0 plays no part.
  const auto o = run(make(1, 3, {0, 2, 1}, 2, {9.0f, 2.0f, -1.0f}));
  EXPECT_EQ(ids(o), (std::vector<int32_t>{1, 2}));
  const double a = 1 / (1 + std::exp(-1.0)), b = std::exp(-1.0) / (1 + std::exp(-1.0));
  EXPECT_EQ(weights(o)[0], static_cast<float>(2 * a));
  EXPECT_EQ(weights(o)[1], static_cast<float>(-b));
  EXPECT_GT(o.weight_error, 0);
  EXPECT_LT(o.weight_error, 24 * 0x1p-24 * 2);  // a couple of dozen fp32 roundings of weights <= |scale| = 2
  // K = 1: the weight is the scale itself.
  EXPECT_EQ(weights(run(make(1, 3, {0, 2, 1}, 1, {9.0f, 2.0f, -1.0f}))), (std::vector<float>{2.0f}));
}

TEST(MoeRouting, PositiveZeroRanksAboveNegativeZero) {
  EXPECT_EQ(ids(run(make(1, 2, {-0.0f, 0.0f}, 1))), (std::vector<int32_t>{1}));
  EXPECT_EQ(ids(run(make(1, 3, {-0.0f, -0.0f, 0.0f}, 3))), (std::vector<int32_t>{2, 0, 1}));
}

TEST(MoeRouting, AllNegativeInfinityRowGivesIdsInOrderAndNanWeights) {
  const auto o = run(make(2, 4, {-kInf, -kInf, -kInf, -kInf, 0, 1, 0, 0}, 3));
  EXPECT_EQ(ids(o), (std::vector<int32_t>{0, 1, 2, 1, 0, 2}));
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(std::isnan(weights(o)[k]));
  for (int k = 3; k < 6; ++k) EXPECT_FALSE(std::isnan(weights(o)[k]));
}

// §1.3: any NaN in the selected set makes S NaN; S > 0 is false, S := 1: the other weights stay unnormalised.
TEST(MoeRouting, SumGuardLeavesWeightsUnnormalisedUnderANan) {
  const auto o = run(make(1, 3, {1.0f, kNegNan, 0.0f}, 3, {2.0f, 5.0f, 3.0f}));
  EXPECT_EQ(ids(o), (std::vector<int32_t>{0, 2, 1}));
  EXPECT_EQ(weights(o)[0], 2.0f);                                        // exp(0) * 2
  EXPECT_EQ(weights(o)[1], static_cast<float>(std::exp(-1.0) * 3));    // exp(-1) * 3, not renormalised
  EXPECT_TRUE(std::isnan(weights(o)[2]));
  // Without the NaN in the selection the weights are renormalised.
  const auto k2 = run(make(1, 3, {1.0f, kNegNan, 0.0f}, 2, {2.0f, 5.0f, 3.0f}));
  EXPECT_EQ(weights(k2)[0], static_cast<float>(2 / (1 + std::exp(-1.0))));
  // +inf selected: inf - inf = NaN for its lane, the others exp(-inf) = 0.
  const auto inf = run(make(1, 3, {1.0f, kInf, 2.0f}, 2));
  EXPECT_EQ(ids(inf), (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(std::isnan(weights(inf)[0]));
  EXPECT_EQ(weights(inf)[1], 0.0f);
}

TEST(MoeRouting, HalfPrecisionInputsOrderLikeTheirValues) {
  for (DType d : {DType::bf16, DType::f16}) {
    // 1.0 and 1.001 round to the same bf16 (a tie: lowest id) but not the same f16.
    const auto o = run(make(1, 3, {1.0f, 1.001f, -2.0f}, 2, {}, d));
    EXPECT_EQ(ids(o), d == DType::bf16 ? (std::vector<int32_t>{0, 1}) : (std::vector<int32_t>{1, 0}));
  }
}

TEST(MoeRouting, OneExpertAndNonPowerOfTwoWidths) {
  EXPECT_EQ(weights(run(make(3, 1, {5, -kInf, 0}, 1, {0.5f}))).size(), 3u);
  std::vector<float> row(255);
  for (int e = 0; e < 255; ++e) row[e] = static_cast<float>((e * 37) % 255);
  const auto o = run(make(1, 255, row, 8));
  EXPECT_EQ(ids(o)[0], 62);  // 62 * 37 = 2294 = 9 * 255 - 1: value 254, the largest
  // The launchers' largest E (BLOCK_E = 1024) with K = E: every expert once, in descending order.
  std::vector<float> wide(1000);
  for (int e = 0; e < 1000; ++e) wide[e] = static_cast<float>((e * 7919) % 1000) / 8;
  const auto all = run(make(1, 1000, wide, 1000));
  EXPECT_EQ(ids(all)[0], 321);  // 321 * 7919 = 2541999: value 999 / 8, the largest
  for (int k = 1; k < 1000; ++k) EXPECT_GT(wide[ids(all)[k - 1]], wide[ids(all)[k]]);
}

TEST(MoeRouting, ZeroTokens) {
  const auto o = run(make(0, 8, {}, 3));
  EXPECT_EQ(o.topk_ids.shape(), (Shape{0, 3}));
  EXPECT_EQ(o.topk_weights.shape(), (Shape{0, 3}));
  EXPECT_EQ(device::moe_routing(make(0, 8, {}, 3)).topk_ids.shape(), (Shape{0, 3}));
}

TEST(MoeRouting, InvalidCasesNameTheFieldAndValue) {
  auto message = [](const MoeRoutingCase& c) {
    try {
      reference::moe_routing(c);
    } catch (const Error& e) {
      EXPECT_THROW(device::moe_routing(c), Error);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(make(1, 4, {0, 0, 0, 0}, 5)),
            "case.topk = 5: must be <= E = 4 (the number of experts, gating_output f32[1,4])");
  MoeRoutingCase c = make(1, 4, {0, 0, 0, 0}, 0);
  EXPECT_EQ(message(c), "case.topk = 0: must be >= 1");
  c = make(1, 4, {0, 0, 0, 0}, 2);
  c.per_expert_scale = Tensor::from<float>({3}, {1, 1, 1});
  EXPECT_EQ(message(c), "case.per_expert_scale = f32[3]: must have shape [E] = [4] (E from gating_output f32[1,4])");
  c = make(1, 4, {0, 0, 0, 0}, 2, {1, kInf, 1, 1});
  EXPECT_EQ(message(c), "case.per_expert_scale[1] = inf: must be finite (a model parameter)");
  c = make(1, 4, {0, 0, 0, 0}, 2);
  c.gating_output = Tensor(DType::f32, {4});
  EXPECT_EQ(message(c), "case.gating_output = f32[4]: must have rank 2: (T tokens, E experts)");
  c.gating_output = Tensor(DType::i32, {1, 4});
  EXPECT_EQ(message(c), "case.gating_output = i32[1,4]: dtype must be bf16, f16 or f32");
  c.gating_output = Tensor(DType::f32, {1, 0});
  EXPECT_EQ(message(c), "case.gating_output = f32[1,0]: E = 0 experts must be in [1, 1024]");
}

// §1.2: HF ranks probabilities. One logit 200 above the others: every other fp32 probability is exactly 0, so
// HF's top-2 takes the lowest id among them, the logit rule the larger logit.
TEST(MoeRoutingHf, DiffersWhereProbabilitiesUnderflow) {
  const MoeRoutingCase c = make(1, 3, {200, 0, 1}, 2);
  EXPECT_EQ(ids(reference::moe_routing(c)), (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(ids(reference::moe_routing_hf(c, DType::f32)), (std::vector<int32_t>{0, 1}));
  const auto p = reference::moe_routing_hf_probs(c, 0, DType::f32);
  EXPECT_EQ(p[1], 0.0);
  EXPECT_EQ(p[2], 0.0);
  // Without the gap the two agree.
  const MoeRoutingCase d = make(1, 3, {2, 0, 1}, 2);
  EXPECT_EQ(ids(reference::moe_routing_hf(d, DType::f32)), ids(reference::moe_routing(d)));
}
