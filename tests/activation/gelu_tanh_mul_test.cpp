// Unit tests of gelu_tanh_mul: the spec's formula at hand-computed points (§2.2: 0.5 g (1 + tanh(0.7978845608028654
// (g + 0.044715 g^3))) * ple), both sides, the saturated and overflow semantics, the error bound's parts, the
// fault's size at the points where it is visible, and validation errors that name the field.
#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "device/activation/gelu_tanh_mul.h"
#include "device/activation/gelu_tanh_mul_kernel.h"
#include "oracle/activation/gelu_tanh_mul.h"
#include "reference/activation/gelu_tanh_mul.h"

using namespace lockstep;

namespace {

GeluTanhMulCase one_row(DType dt, const std::vector<double>& g, const std::vector<double>& p) {
  GeluTanhMulCase c;
  c.gate = Tensor(dt, {1, static_cast<int64_t>(g.size())});
  c.ple = Tensor(dt, {1, static_cast<int64_t>(p.size())});
  for (size_t i = 0; i < g.size(); ++i) c.gate.set(static_cast<int64_t>(i), g[i]);
  for (size_t i = 0; i < p.size(); ++i) c.ple.set(static_cast<int64_t>(i), p[i]);
  return c;
}

void expect_invalid(const GeluTanhMulCase& c, const std::string& field, const std::string& needle) {
  try {
    reference::gelu_tanh_mul(c);
    FAIL() << "expected an Error naming " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_THROW(device::gelu_tanh_mul(c), Error);
}

}  // namespace

// Hand values of gelu_tanh (the spec's formula evaluated by hand to 16 digits; gelu(-x) = gelu(x) - x).
TEST(GeluTanhMul, SpecFormulaAtHandPoints) {
  EXPECT_EQ(reference::gelu_tanh(0.0), 0.0);
  EXPECT_NEAR(reference::gelu_tanh(1.0), 0.8411919906082768, 1e-15);
  EXPECT_NEAR(reference::gelu_tanh(-1.0), -0.15880800939172324, 1e-15);
  EXPECT_NEAR(reference::gelu_tanh(3.0), 2.996362607918227, 1e-15);
  EXPECT_NEAR(reference::gelu_tanh(-3.0), -0.0036373920817729943, 1e-17);
  EXPECT_NEAR(reference::gelu_tanh(-1.0), reference::gelu_tanh(1.0) - 1.0, 1e-15);
}

TEST(GeluTanhMul, BothSidesAtHandPointsTimesPle) {
  const GeluTanhMulCase c = one_row(DType::f32, {0.0, 1.0, -1.0, 3.0, -3.0}, {1.0, 2.0, -0.5, 1.0, 4.0});
  const GeluTanhMulOutputs r = reference::gelu_tanh_mul(c), d = device::gelu_tanh_mul(c);
  const double want[] = {0.0, 2 * 0.8411919906082768, -0.5 * -0.15880800939172324, 2.996362607918227,
                         4 * -0.0036373920817729943};
  // The device within the derived bound; at g = -3, 1 + tanh(u) = 0.0024 cancels: the fp32 result is off by
  // 1.6e-7 (1e-5 relative) there, inside 0.5 |g ple| 2.5 ulp(t) (the bound's absolute part).
  const oracle::Tolerance tol = oracle::gelu_tanh_mul_tolerance(c, r, d);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r.out.get(i), static_cast<double>(static_cast<float>(want[i]))) << i;  // one rounding to f32
    EXPECT_LE(std::abs(d.out.get(i) - want[i]), tol.atol + tol.rtol * std::abs(want[i])) << i;
    EXPECT_NEAR(d.out.get(i), want[i], 2e-7) << i;
  }
}

// Output in gate's dtype, rounded once (bf16 of the double value).
TEST(GeluTanhMul, OutputDtypeIsGatesAndRoundedOnce) {
  for (DType dt : {DType::bf16, DType::f16}) {
    const GeluTanhMulCase c = one_row(dt, {1.0, 3.0}, {1.0, 1.0});
    const GeluTanhMulOutputs r = reference::gelu_tanh_mul(c), d = device::gelu_tanh_mul(c);
    EXPECT_EQ(r.out.dtype(), dt);
    EXPECT_EQ(d.out.dtype(), dt);
    EXPECT_EQ(r.out.get(0), round_to(dt, 0.8411919906082768));
    EXPECT_EQ(d.out.get(0), round_to(dt, 0.8411919906082768));
    EXPECT_EQ(d.out.get(1), round_to(dt, 2.996362607918227));
  }
}

// Saturation: tanh = -1 in fp32 for g <= ~-9, and g^3 overflows fp32 past 6.98e12: the kernel's u = +-inf
// gives out = g * ple (g > 0) and -0 * ple (g < 0), the reference's values too.
TEST(GeluTanhMul, SaturationAndCubeOverflowAgree) {
  const GeluTanhMulCase c = one_row(DType::f32, {-20.0, 1e13, -1e13, 3e38}, {3.0, 2.0, 5.0, 1.0});
  const GeluTanhMulOutputs r = reference::gelu_tanh_mul(c), d = device::gelu_tanh_mul(c);
  EXPECT_EQ(d.out.get(0), 0.0);
  EXPECT_LT(std::abs(r.out.get(0)), 1e-100);
  EXPECT_EQ(d.out.get(1), static_cast<double>(static_cast<float>(1e13) * 2.0f));
  EXPECT_EQ(r.out.get(1), d.out.get(1));
  EXPECT_EQ(d.out.get(2), 0.0);
  EXPECT_EQ(r.out.get(2), 0.0);
  EXPECT_EQ(d.out.get(3), static_cast<double>(static_cast<float>(3e38)));
  EXPECT_TRUE(std::isfinite(r.out.get(3)));
  const oracle::Tolerance tol = oracle::gelu_tanh_mul_tolerance(c, r, d);
  for (int i = 0; i < 4; ++i) EXPECT_LE(std::abs(d.out.get(i) - r.out.get(i)), tol.atol + tol.rtol * std::abs(r.out.get(i)));
}

// The bound's absolute part: ~0.5 |g ple| 2.5 * 2^-23 |t| where tanh is flat, and the argument's error where it is not.
TEST(GeluTanhMul, ErrorBoundParts) {
  const double flat = reference::gelu_tanh_mul_fp32_error(-40.0, 1.0).abs;  // t = -1, sech^2 ~ 0
  EXPECT_NEAR(flat, 0.5 * 40 * 2.5 * 0x1.0p-23, 0.5 * 40 * 0x1.0p-30);
  const double steep = reference::gelu_tanh_mul_fp32_error(1.0, 1.0).abs;  // u ~ 0.83: argument error counts
  EXPECT_GT(steep, 0.5 * 2.5 * 0x1.0p-23 * std::tanh(0.83));
  EXPECT_LT(steep, 0.5 * 0x1.0p-19);
  EXPECT_EQ(reference::gelu_tanh_mul_fp32_error(0.0, 0.0).abs, 0x1.0p-148);
}

// The fault's size: erf GELU - tanh GELU = -1.53e-4 at g = +-1, +4.12e-4 at g = +-3 (10% of gelu(-3)).
TEST(GeluTanhMul, ErfFaultIsOutsideTheTolerance) {
  const GeluTanhMulCase c = one_row(DType::f32, {1.0, -3.0}, {1.0, 1.0});
  const GeluTanhMulOutputs r = reference::gelu_tanh_mul(c);
  device::Options opt;
  opt.fault = device::kGeluFaultErfInsteadOfTanh;
  const GeluTanhMulOutputs bad = device::gelu_tanh_mul(c, opt);
  EXPECT_NEAR(bad.out.get(0), 0.8413447460685429, 1e-6);
  EXPECT_NEAR(bad.out.get(1), -0.00404969409489031, 1e-8);
  const oracle::Tolerance tol = oracle::gelu_tanh_mul_tolerance(c, r, bad);
  EXPECT_GT(std::abs(bad.out.get(0) - r.out.get(0)), 100 * (tol.atol + tol.rtol * std::abs(r.out.get(0))));
  // bf16: visible at g = -3 (10% relative) though not at g = 1 (inside one bf16 ulp).
  const GeluTanhMulCase b = one_row(DType::bf16, {-3.0}, {1.0});
  const GeluTanhMulOutputs rb = reference::gelu_tanh_mul(b), db = device::gelu_tanh_mul(b, opt);
  const oracle::Tolerance tb = oracle::gelu_tanh_mul_tolerance(b, rb, db);
  EXPECT_GT(std::abs(db.out.get(0) - rb.out.get(0)), tb.atol + tb.rtol * std::abs(rb.out.get(0)));
}

TEST(GeluTanhMul, ValidationNamesTheField) {
  expect_invalid(one_row(DType::f32, {1.0, 2.0}, {1.0}), "case.ple", "must match gate's shape [1,2]");
  GeluTanhMulCase mixed = one_row(DType::f32, {1.0}, {1.0});
  mixed.ple = Tensor(DType::bf16, {1, 1});
  expect_invalid(mixed, "case.ple", "dtype bf16 must match gate's dtype f32");
  expect_invalid(one_row(DType::f32, {1.0, std::numeric_limits<double>::infinity()}, {1.0, 1.0}), "case.gate[1]",
                 "finite");
  expect_invalid(one_row(DType::f32, {1.0}, {std::nan("")}), "case.ple[0]", "finite");
  GeluTanhMulCase ints = one_row(DType::f32, {1.0}, {1.0});
  ints.gate = Tensor(DType::i32, {1, 1});
  expect_invalid(ints, "case.gate", "dtype must be f32, bf16 or f16");
  GeluTanhMulCase rank1;
  rank1.gate = Tensor(DType::f32, {3});
  rank1.ple = Tensor(DType::f32, {3});
  expect_invalid(rank1, "case.gate", "rank 2");
}

// Rows are independent: a multi-row case equals its rows run alone (the registered batching rule).
TEST(GeluTanhMul, RowsAreIndependent) {
  GeluTanhMulCase c = one_row(DType::bf16, {0.5, -2.0, 7.0, -0.25}, {1.0, 1.0, 1.0, 1.0});
  c.gate = Tensor(DType::bf16, {2, 2});
  c.ple = Tensor(DType::bf16, {2, 2});
  const double g[] = {0.5, -2.0, 7.0, -0.25};
  for (int i = 0; i < 4; ++i) {
    c.gate.set(i, g[i]);
    c.ple.set(i, 1.5);
  }
  const auto rule = fuzz::gelu_tanh_mul_batching_rule();
  const GeluTanhMulOutputs all = device::gelu_tanh_mul(c);
  for (int64_t r = 0; r < 2; ++r) EXPECT_EQ(rule.slice_outputs(all, c, r).out, device::gelu_tanh_mul(rule.slice_case(c, r)).out);
}
