#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/oob_reads.h"
#include "oracle/compare.h"
#include "oracle/lockstep_op.h"
#include "oracle/report.h"

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

// Decision 7 (moe_routing): with nan_equal, NaN agrees with NaN in the same position only; everything else as
// before (a NaN against a number fails, infinities keep their sign, finite elements keep the tolerance).
TEST(Compare, NanEqualAgreesOnlyInTheSamePosition) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tolerance t{1e-3, 0, true};
  EXPECT_TRUE(compare_tensor("w", f32({nan, 1, -inf}), f32({-nan, 1.0005f, -inf}), t).passed);
  EXPECT_FALSE(compare_tensor("w", f32({nan, 1}), f32({1, nan}), t).passed);
  EXPECT_FALSE(compare_tensor("w", f32({nan}), f32({0}), t).passed);
  EXPECT_FALSE(compare_tensor("w", f32({inf}), f32({-inf}), t).passed);
  EXPECT_FALSE(compare_tensor("w", f32({nan, 1}), f32({nan, 1.01f}), t).passed);
  const TensorDiff d = compare_tensor("w", f32({nan, 2}), f32({nan, 2.0001f}), t);
  EXPECT_TRUE(d.passed);
  EXPECT_NEAR(d.max_abs, 1e-4, 1e-6);  // the NaN element does not poison the metrics
  EXPECT_FALSE(std::isnan(d.nmse));
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

// The generic registry entry (oracle/lockstep_op.h) applies each output's Rule as its field declares it.
namespace {
struct ToyCase {
  int64_t n = 1;
  template <class V>
  void fields(V& v) {
    v("n", n, IntRange{0, 10});
  }
};
void validate(const ToyCase& c) { require_ranges(c, "case"); }
struct ToyOutputs {
  Tensor exact, approx, oob;
  std::string problems;
  int64_t dropped = 0;
  double magnitude = 0;
  template <class V>
  void fields(V& v) {
    v("exact", exact, Rule{Rule::exact, "extra line on mismatch"});
    v("approx", approx, Rule{Rule::tolerance});
    v("oob", oob, Rule{Rule::oob_reads, "device read {n} bad page{s}, first: slot {slot} = {page}", "missed {n}"});
    v("dropped", dropped, IntRange{0, 100}, Rule{Rule::oob_dropped});
    v("problems", problems, Rule{Rule::must_be_empty, "device side: ", "reference model: "});
    v("magnitude", magnitude, Rule{Rule::info});
  }
};
ToyOutputs toy_reference(const ToyCase& c) {
  validate(c);
  return {Tensor::from<int32_t>({1}, {7}), f32({1.0f}), oob_tensor({}), "", 0, 42.0};
}
ToyOutputs toy_device(const ToyCase& c, const device::Options& o) {
  ToyOutputs out = toy_reference(c);
  out.magnitude = 0;  // info: never compared
  if (o.fault == 1) {
    out.exact = Tensor::from<int32_t>({1}, {8});
    out.approx = f32({1.5f});
    out.oob = oob_tensor({{0, 0, 3, 99, 4}, {1, 0, 5, 98, 4}});
    out.dropped = 2;
    out.problems = "step 0: leak\nstep 1: leak";
  }
  return out;
}
constexpr device::Fault kToyFaults[] = {{"toy_fault", 1, "everything wrong"}};
LockstepOp<ToyCase, ToyOutputs> toy_op() {
  return LockstepOp<ToyCase, ToyOutputs>({.name = "toy", .summary = "toy", .generator = [] { return rc::gen::just(ToyCase{}); },
                                          .reference = toy_reference, .device = toy_device,
                                          .regions = [] { return std::vector<Region<ToyCase>>{}; }, .faults = kToyFaults,
                                          .tolerance = [](const ToyCase&, const ToyOutputs&, const ToyOutputs&) {
                                            return Tolerance{0.1, 0};
                                          }});
}
}  // namespace

TEST(LockstepOp, AppliesEachOutputsDeclaredRule) {
  const auto op = toy_op();
  // A correct device: every rule passes; the info field differs without failing.
  const LockstepResult ok = op.run_typed(ToyCase{}, {});
  EXPECT_TRUE(ok.report.passed) << to_text(ok.report);
  ASSERT_EQ(ok.report.outputs.size(), 2u);  // exact and approx are compared tensors; the rest are not
  EXPECT_TRUE(ok.report.device_oob.empty());

  const LockstepResult bad = op.run_typed(ToyCase{}, {Backend::cpu, "toy_fault"});
  const std::vector<std::string>& f = bad.report.failures;
  ASSERT_EQ(f.size(), 6u) << to_text(bad.report);
  EXPECT_EQ(f[0].rfind("exact: ", 0), 0u) << f[0];
  EXPECT_EQ(f[1], "extra line on mismatch");
  EXPECT_EQ(f[2].rfind("approx: ", 0), 0u) << f[2];
  EXPECT_EQ(f[3], "device read 2 bad pages, first: slot 3 = 99");
  EXPECT_EQ(f[4], "device side: step 0: leak");
  EXPECT_EQ(f[5], "device side: step 1: leak");
  EXPECT_EQ(bad.report.device_oob.size(), 2u);
  EXPECT_EQ(bad.report.oob_dropped, 2);

  const SideResult side = op.run_side(std::any(ToyCase{}), "device", {Backend::cpu, "toy_fault"});
  EXPECT_EQ(side.oob.size(), 2u);
  EXPECT_EQ(side.oob_dropped, 2);
  EXPECT_THROW(op.run_typed(ToyCase{}, {Backend::cpu, "no_such_fault"}), Error);
}

TEST(LockstepOp, RangeChecksComeFromTheFieldDescription) {
  ToyCase c;
  c.n = 11;
  try {
    validate(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "case.n");
    EXPECT_NE(std::string(e.what()).find("out of range [0, 10]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rule_of().kind, Rule::exact);
  EXPECT_EQ(rule_of(IntRange{0, 1}, Rule{Rule::info}).kind, Rule::info);
}
