// The fused RMSNorm family (spec gemma4 §2.1–§2.3): hand-computed goldens on the reference, the device
// kernel against them, and each variant's distinguishing fact (w not 1 + w, the unrounded fp32 sum, par not
// rounded before the shared norm, the layer scalar, the bf16 outputs of the triple), plus validation errors.
#include <cmath>

#include <gtest/gtest.h>

#include "core/error.h"
#include "device/norm/rmsnorm.h"
#include "device/norm/rmsnorm_kernel.h"
#include "oracle/norm/rmsnorm.h"
#include "reference/norm/rmsnorm.h"

using namespace lockstep;
using V = RmsNormVariant;

namespace {

Tensor mat(DType dt, int64_t M, int64_t H, const std::vector<double>& v) {
  Tensor t(dt, {M, H});
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}
Tensor vec(DType dt, const std::vector<double>& v) {
  Tensor t(dt, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}
std::vector<double> vals(const Tensor& t) { return t.values(); }

RmsNormCase base(V variant, DType dt, const std::vector<double>& x, int64_t H) {
  RmsNormCase c;
  c.variant = variant;
  c.dtype = dt;
  c.x = mat(dt, static_cast<int64_t>(x.size()) / H, H, x);
  return c;
}

/// Device within the row's tolerance of the reference, and (bf16/f16) equal to its f32-output run rounded.
void expect_device_agrees(const RmsNormCase& c, int fault = 0) {
  const RmsNormOutputs ref = reference::rmsnorm(c);
  device::Options opt;
  opt.fault = fault;
  const RmsNormOutputs dev = device::rmsnorm(c, opt);
  const oracle::Tolerance tol = oracle::rmsnorm_tolerance(c, ref, dev);
  for (auto [r, d] : {std::pair{&ref.out, &dev.out}, {&ref.router_in, &dev.router_in},
                      {&ref.dense_ff_in, &dev.dense_ff_in}, {&ref.moe_in, &dev.moe_in}}) {
    const oracle::TensorDiff diff = oracle::compare_tensor("out", *r, *d, tol);
    EXPECT_TRUE(diff.passed) << diff.failure;
  }
  EXPECT_EQ(ref.residual_out, dev.residual_out);
}

const double kEps = 1e-6;
const double kRrms34 = 1 / std::sqrt(12.5 + kEps);  // row [3, 4]: mean of squares (9 + 16) / 2 = 12.5

}  // namespace

TEST(RmsNorm, RowThreeFourGolden) {
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    RmsNormCase c = base(V::rmsnorm, dt, {3, 4}, 2);
    c.w = vec(dt, {1, 1});
    const auto o = reference::rmsnorm(c);
    EXPECT_EQ(vals(o.out), (std::vector<double>{round_to(dt, 3 * kRrms34), round_to(dt, 4 * kRrms34)}));
    EXPECT_EQ(o.out.dtype(), dt);
    expect_device_agrees(c);
  }
  // f32: 3 / sqrt(12.500001) = 0.848528...
  RmsNormCase c = base(V::rmsnorm, DType::f32, {3, 4}, 2);
  c.w = vec(DType::f32, {1, 1});
  EXPECT_NEAR(reference::rmsnorm(c).out.get(0), 0.8485281, 1e-7);
  EXPECT_NEAR(reference::rmsnorm(c).out.get(1), 1.1313708, 1e-7);
}

TEST(RmsNorm, WeightIsWNotOnePlusW) {
  RmsNormCase c = base(V::rmsnorm, DType::f32, {3, 4}, 2);
  c.w = vec(DType::f32, {2, 0.5});
  const auto o = reference::rmsnorm(c);
  EXPECT_EQ(o.out.get(0), round_to(DType::f32, 3 * kRrms34 * 2));  // (1 + w) would give 3 * rrms * 3
  EXPECT_EQ(o.out.get(1), round_to(DType::f32, 4 * kRrms34 * 0.5));
  expect_device_agrees(c);
  // The (1 + w) fault is far outside the tolerance.
  const auto bad = device::rmsnorm(c, device::Options{Backend::cpu, device::kRmsNormFaultOnePlusWeight});
  EXPECT_NEAR(bad.out.get(0), 3 * kRrms34 * 3, 1e-5);
}

TEST(RmsNorm, NoWeightAndZeroRowAndWidthOne) {
  RmsNormCase c = base(V::rmsnorm, DType::f32, {3, 4, 0, 0}, 2);
  c.with_scale = 0;
  const auto o = reference::rmsnorm(c);
  EXPECT_EQ(vals(o.out), (std::vector<double>{round_to(DType::f32, 3 * kRrms34), round_to(DType::f32, 4 * kRrms34), 0, 0}));
  expect_device_agrees(c);
  // H = 1: y = x / sqrt(x^2 + eps) * w; a zero row's rrms is 1/sqrt(eps) (eps = 0.25 -> 2): r + 0 = r.
  RmsNormCase one = base(V::rmsnorm_add, DType::f32, {2, 0}, 1);
  one.eps = 0.25;
  one.w = vec(DType::f32, {1.5});
  one.r = mat(DType::f32, 2, 1, {0.5, -7});
  const auto p = reference::rmsnorm(one);
  EXPECT_EQ(p.out.get(0), round_to(DType::f32, 2 / std::sqrt(4.25) * 1.5 + 0.5));
  EXPECT_EQ(p.out.get(1), -7.0);
  expect_device_agrees(one);
}

TEST(RmsNorm, AddRmsNormNormalisesTheUnroundedSum) {
  // bf16: x = [1, 3], r = [3/512, 0]: s = [1.005859375, 3] is not a bf16 value (bf16(s0) = 1.0078125).
  // From the unrounded sum: rms = sqrt((1.005859375^2 + 9) / 2 + 1e-6) = 2.23738..., y0 = 0.44957 -> bf16
  // 0.44921875; from the rounded sum y0 would be 0.45035 -> 0.451171875.
  RmsNormCase c = base(V::add_rmsnorm, DType::bf16, {1, 3}, 2);
  c.r = mat(DType::bf16, 1, 2, {3.0 / 512, 0});
  c.w = vec(DType::bf16, {1, 1});
  const auto o = reference::rmsnorm(c);
  EXPECT_EQ(vals(o.out), (std::vector<double>{0.44921875, 1.34375}));
  EXPECT_EQ(vals(o.residual_out), (std::vector<double>{1.0078125, 3}));  // the sum rounded once to bf16
  expect_device_agrees(c);
  // The fault (normalise the rounded sum) gives the other bf16 value: one ulp, inside the bf16 tolerance, and
  // its f32-output run rounds the same way (the exact rounding check passes); the row's f32 check (f32-output
  // run vs the reference at f32 precision) sees it.
  device::Options f;
  f.fault = device::kRmsNormFaultFromRoundedSum;
  const RmsNormOutputs bad = device::rmsnorm(c, f);
  EXPECT_EQ(bad.out.get(0), 0.451171875);
  const RmsNormOutputs ref = reference::rmsnorm(c);
  EXPECT_TRUE(oracle::compare_tensor("out", ref.out, bad.out, oracle::rmsnorm_tolerance(c, ref, bad)).passed);
  oracle::Report rep;
  rep.backend = "cpu";
  oracle::rmsnorm_f32_check(c, ref, bad, rep);
  EXPECT_TRUE(rep.failures.empty());
  rep.fault = "rmsnorm_add_from_rounded_sum";
  oracle::rmsnorm_f32_check(c, ref, bad, rep);
  ASSERT_FALSE(rep.failures.empty());
  EXPECT_NE(rep.failures[0].find("out_f32"), std::string::npos) << rep.failures[0];
}

TEST(RmsNorm, RmsNormAddAndResidualScalar) {
  RmsNormCase c = base(V::rmsnorm_add, DType::f32, {3, 4}, 2);
  c.w = vec(DType::f32, {1, 2});
  c.r = mat(DType::f32, 1, 2, {10, -1});
  EXPECT_EQ(vals(reference::rmsnorm(c).out),
            (std::vector<double>{round_to(DType::f32, 3 * kRrms34 + 10), round_to(DType::f32, 8 * kRrms34 - 1)}));
  expect_device_agrees(c);
  c.variant = V::rmsnorm_residual_scalar;
  for (double s : {-0.5, 0.0, 2.0}) {
    c.scalar = vec(DType::f32, {s});
    EXPECT_EQ(vals(reference::rmsnorm(c).out), (std::vector<double>{round_to(DType::f32, (3 * kRrms34 + 10) * s),
                                                                     round_to(DType::f32, (8 * kRrms34 - 1) * s)}));
    expect_device_agrees(c);
  }
}

TEST(RmsNorm, DualNeverRoundsItsIntermediates) {
  // x1 = [3, 4], x2 = [4, 3], w1 = w2 = 1: c = [7, 7] * rrms (up to eps); rrms(c) * c = [1, 1] (eps3 small)
  // -> out = ([1, 1] * w3 + r) * s.
  RmsNormCase c = base(V::dual_rmsnorm_residual_scalar, DType::f32, {3, 4}, 2);
  c.x2 = mat(DType::f32, 1, 2, {4, 3});
  c.w = vec(DType::f32, {1, 1});
  c.w2 = vec(DType::f32, {1, 1});
  c.w3 = vec(DType::f32, {2, -1});
  c.r = mat(DType::f32, 1, 2, {0.5, 0.25});
  c.scalar = vec(DType::f32, {-2});
  c.eps2 = 1e-6;
  c.eps3 = 1e-6;
  const double cc = 7 * kRrms34, r3 = 1 / std::sqrt(cc * cc + 1e-6);
  EXPECT_EQ(vals(reference::rmsnorm(c).out),
            (std::vector<double>{round_to(DType::f32, (cc * r3 * 2 + 0.5) * -2), round_to(DType::f32, (-cc * r3 + 0.25) * -2)}));
  expect_device_agrees(c);
  // Three eps: eps3 = 49 * rrms^2 makes rrms(c) = 1 / sqrt(2 * 49 rrms^2) = 1 / (7 rrms sqrt 2).
  c.eps3 = cc * cc;
  const double r3b = 1 / std::sqrt(2 * cc * cc);
  EXPECT_NEAR(reference::rmsnorm(c).out.get(0), (cc * r3b * 2 + 0.5) * -2, 1e-6);
  expect_device_agrees(c);
}

TEST(RmsNorm, TripleParNotRoundedBeforeTheSharedNorm) {
  // attn_out = [1, 3], w_post = 1, residual = [3/512, 0] (bf16): par = [0.45307, 1.34164], bf16(par0) = 0.453125.
  // base0 = par0 * rrms(par) = 0.452476 -> bf16 0.453125; from bf16(par) it would be 0.451171875.
  RmsNormCase c = base(V::post_attn_triple_rmsnorm, DType::bf16, {1, 3}, 2);
  c.w = vec(DType::bf16, {1, 1});
  c.r = mat(DType::bf16, 1, 2, {3.0 / 512, 0});
  c.w2 = vec(DType::bf16, {1, 1});
  c.w3 = vec(DType::bf16, {1, 1});
  c.w4 = vec(DType::bf16, {1, 1});
  const auto o = reference::rmsnorm(c);
  EXPECT_EQ(o.out.get(0), 0.453125);
  EXPECT_EQ(o.router_in.get(0), 0.453125);
  EXPECT_EQ(o.dense_ff_in.get(0), 0.453125);
  EXPECT_EQ(o.moe_in.get(0), 0.453125);
  expect_device_agrees(c);
  device::Options f;
  f.fault = device::kRmsNormFaultParRounded;
  EXPECT_EQ(device::rmsnorm(c, f).router_in.get(0), 0.451171875);
  // Outputs are bf16 whatever the input dtype.
  for (DType dt : {DType::f32, DType::f16}) {
    RmsNormCase d = c;
    d.dtype = dt;
    for (Tensor* t : {&d.x, &d.r, &d.w, &d.w2, &d.w3, &d.w4}) {
      Tensor n(dt, t->shape());
      for (int64_t i = 0; i < t->numel(); ++i) n.set(i, t->get(i));
      *t = n;
    }
    const auto od = reference::rmsnorm(d);
    EXPECT_EQ(od.out.dtype(), DType::bf16);
    EXPECT_EQ(od.moe_in.dtype(), DType::bf16);
    expect_device_agrees(d);
  }
}

TEST(RmsNorm, EmptyRowsAndUnusedOutputs) {
  RmsNormCase c = base(V::add_rmsnorm, DType::f16, {}, 3);
  c.x = Tensor(DType::f16, {0, 3});
  c.r = Tensor(DType::f16, {0, 3});
  c.w = vec(DType::f16, {1, 2, 3});
  const auto o = reference::rmsnorm(c);
  EXPECT_EQ(o.out.shape(), (Shape{0, 3}));
  EXPECT_EQ(o.residual_out.shape(), (Shape{0, 3}));
  EXPECT_TRUE(o.router_in.empty() && o.router_in.rank() == 0);  // not produced by this variant
  expect_device_agrees(c);
}

TEST(RmsNorm, ValidationNamesTheField) {
  auto expect_error = [](const RmsNormCase& c, const std::string& field) {
    try {
      reference::rmsnorm(c);
      ADD_FAILURE() << "no error for " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
    EXPECT_THROW(device::rmsnorm(c), Error);
  };
  RmsNormCase c = base(V::rmsnorm, DType::f32, {3, 4}, 2);
  c.w = vec(DType::f32, {1, 1});
  RmsNormCase e = c;
  e.eps = 0;
  expect_error(e, "case.eps");
  e = c;
  e.r = mat(DType::f32, 1, 2, {1, 1});
  expect_error(e, "case.r");
  e = c;
  e.w = vec(DType::f32, {1, 1, 1});
  expect_error(e, "case.w");
  e = c;
  e.variant = V::rmsnorm_add;
  e.r = mat(DType::f32, 1, 2, {1, 1});
  e.with_scale = 0;
  expect_error(e, "case.with_scale");
  e = c;
  e.w = vec(DType::bf16, {1, 1});
  expect_error(e, "case.w");
  e = c;
  e.x = Tensor(DType::f32, {1, 0});
  e.w = Tensor(DType::f32, {0});
  expect_error(e, "case.x");
  e = c;
  e.x.set(1, std::nan(""));
  expect_error(e, "case.x[1]");
  e = c;
  e.eps2 = 1e-6;
  expect_error(e, "case.eps2");
}
