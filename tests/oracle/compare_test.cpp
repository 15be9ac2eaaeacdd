#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "oracle/compare.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {
Tensor f32(std::vector<float> v) { return Tensor::from<float>({static_cast<int64_t>(v.size())}, v); }
}  // namespace

TEST(Tolerance, PerDtypeAndReductionLength) {
  EXPECT_TRUE(tolerance_for(DType::i32, 100).exact());
  EXPECT_DOUBLE_EQ(tolerance_for(DType::bf16, 1).rtol, 1.0 / 128);
  EXPECT_DOUBLE_EQ(tolerance_for(DType::f16, 1).rtol, 1.0 / 1024);
  EXPECT_GT(tolerance_for(DType::f32, 400).atol, tolerance_for(DType::f32, 4).atol);
  EXPECT_DOUBLE_EQ(tolerance_for(DType::f32, 4).atol * 10, tolerance_for(DType::f32, 400).atol);
}

TEST(Compare, ReportsWorstElementAndMetrics) {
  const auto d = compare_tensor("out", f32({1, 2, 3, 4}), f32({1, 2.5f, 3, 3.9f}), {0.01, 0});
  EXPECT_FALSE(d.passed);
  EXPECT_EQ(d.mismatches, 2);
  EXPECT_EQ(d.worst_index, 1);
  EXPECT_EQ(d.worst_ref, 2);
  EXPECT_EQ(d.worst_dev, 2.5);
  EXPECT_NEAR(d.max_abs, 0.5, 1e-7);
  EXPECT_NEAR(d.max_rel, 0.25, 1e-7);
  EXPECT_NEAR(d.nmse, (0.25 + 0.01) / 30.0, 1e-7);
}

TEST(Compare, RelativeToleranceScalesWithReference) {
  EXPECT_TRUE(compare_tensor("x", f32({1000}), f32({1000.5f}), {0, 1e-3}).passed);
  EXPECT_FALSE(compare_tensor("x", f32({1}), f32({1.5f}), {0, 1e-3}).passed);
}

TEST(Compare, NanAndInfMustAgreeWithSign) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  EXPECT_TRUE(compare_tensor("x", f32({inf, -inf}), f32({inf, -inf}), {0, 0}).passed);
  auto d = compare_tensor("x", f32({1, inf}), f32({1, -inf}), {1e9, 1});
  EXPECT_FALSE(d.passed);
  EXPECT_EQ(d.worst_index, 1);
  EXPECT_NE(d.failure.find("NaN/Inf"), std::string::npos);
  EXPECT_FALSE(compare_tensor("x", f32({nan}), f32({nan}), {1, 1}).passed);  // NaN in any output fails
  EXPECT_FALSE(compare_tensor("x", f32({0}), f32({nan}), {1, 1}).passed);
}

TEST(Compare, ExactForIntegersAndShapeMismatch) {
  auto a = Tensor::from<int32_t>({3}, {1, 2, 3});
  auto b = Tensor::from<int32_t>({3}, {1, 2, 4});
  auto d = compare_tensor("ids", a, b, tolerance_for(DType::i32, 1));
  EXPECT_FALSE(d.passed);
  EXPECT_NE(d.failure.find("exact"), std::string::npos);
  EXPECT_FALSE(compare_tensor("ids", a, Tensor::from<int32_t>({1, 3}, {1, 2, 3}), {}).passed);
  EXPECT_TRUE(compare_tensor("ids", a, a, {}).passed);
}

TEST(Compare, WorstCoordinateIsUnravelled) {
  Tensor r(DType::f32, {2, 3}), v(DType::f32, {2, 3});
  v.set(5, 1.0);
  auto d = compare_tensor("o", r, v, {0.1, 0});
  ASSERT_EQ(d.worst_coord.size(), 2u);
  EXPECT_EQ(d.worst_coord[0], 1);
  EXPECT_EQ(d.worst_coord[1], 2);
}
