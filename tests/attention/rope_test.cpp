// Unit tests of rope: position 0 is the identity, a hand-computed 90-degree rotation, HF's proportional layout
// (rotated pairs [0, rope_angles) and [h, h + rope_angles), the rest untouched, exponent over the full
// head_dim), Gemma-4's pair counts, the fault, and validation errors that name the field.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "device/attention/rope.h"
#include "device/attention/rope_kernel.h"
#include "fuzz/attention/rope.h"
#include "oracle/attention/rope.h"
#include "reference/attention/rope.h"

using namespace lockstep;

namespace {

/// One token at `pos`, one q head and one kv head of width hd; q[d] = d + 1, k[d] = -(d + 1) / 2.
RopeCase one_token(RopeType type, double theta, double factor, int64_t hd, int64_t pos, DType dt = DType::f32) {
  RopeCase c;
  c.dtype = dt;
  c.rope_type = type;
  c.theta = theta;
  c.partial_rotary_factor = factor;
  c.head_dim = hd;
  c.positions = Tensor(DType::i64, {1});
  c.positions.set(0, static_cast<double>(pos));
  c.q = Tensor(dt, {1, 1, hd});
  c.k = Tensor(dt, {1, 1, hd});
  for (int64_t d = 0; d < hd; ++d) {
    c.q.set(d, static_cast<double>(d + 1));
    c.k.set(d, -static_cast<double>(d + 1) / 2);
  }
  return c;
}

void expect_invalid(const RopeCase& c, const std::string& field, const std::string& needle) {
  try {
    reference::rope(c);
    FAIL() << "expected an Error naming " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_THROW(device::rope(c), Error);
}

}  // namespace

TEST(Rope, PositionZeroIsTheIdentityOnBothSides) {
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    for (RopeType type : {RopeType::default_rope, RopeType::proportional}) {
      const RopeCase c = one_token(type, 1e6, type == RopeType::proportional ? 0.25 : 1.0, 16, 0, dt);
      const RopeOutputs r = reference::rope(c), d = device::rope(c);
      EXPECT_EQ(r.q, c.q);
      EXPECT_EQ(r.k, c.k);
      EXPECT_EQ(d.q, c.q);
      EXPECT_EQ(d.k, c.k);
    }
  }
}

// head_dim 4, theta = (4/pi)^2, position 2: pair 1 has inv_freq theta^(-2/4) = pi/4, angle pi/2 (90 degrees):
// out[1] = -x[3], out[3] = x[1]; pair 0 has inv_freq 1, angle 2 rad: cos 2 = -0.4161468365471424,
// sin 2 = 0.9092974268256817.
TEST(Rope, NinetyDegreesAndTwoRadiansByHand) {
  const double theta = (4 / M_PI) * (4 / M_PI);
  const RopeCase c = one_token(RopeType::default_rope, theta, 1.0, 4, 2);  // q = [1, 2, 3, 4]
  const double c2 = -0.4161468365471424, s2 = 0.9092974268256817;
  const double want[] = {1 * c2 - 3 * s2, -4.0, 3 * c2 + 1 * s2, 2.0};
  const RopeOutputs r = reference::rope(c), d = device::rope(c);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(r.q.get(i), want[i], 4e-7 * std::abs(want[i])) << i;
    EXPECT_NEAR(d.q.get(i), want[i], 2e-6) << i;
    EXPECT_NEAR(d.k.get(i), -want[i] / 2, 1e-6) << i;
  }
}

// HF `_compute_proportional_rope_parameters`: rope_angles = int(0.25 * 16 // 2) = 2, inv_freq =
// [1, theta^(-2/16), 0 x 6] (exponent over the FULL head_dim, 16 — not over the 4 rotary dims), emb =
// cat(freqs, freqs): dims 0, 1 pair with 8, 9; dims 2-7 and 10-15 are untouched.
TEST(Rope, ProportionalLayoutRotatesInterleavedPairsAndLeavesTheRest) {
  const RopeCase c = one_token(RopeType::proportional, 1e6, 0.25, 16, 5);
  EXPECT_EQ(rope_rotated_pairs(c), 2);
  const RopeOutputs r = reference::rope(c), d = device::rope(c);
  for (int64_t i : {2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15}) {
    EXPECT_EQ(r.q.get(i), c.q.get(i)) << i;
    EXPECT_EQ(d.q.get(i), c.q.get(i)) << i;
    EXPECT_EQ(d.k.get(i), c.k.get(i)) << i;
  }
  const double a0 = 5.0, a1 = 5.0 * std::pow(1e6, -2.0 / 16);  // 5 * 10^-0.75 = 0.889140...
  EXPECT_NEAR(a1, 0.8891397050194614, 1e-15);
  EXPECT_NEAR(r.q.get(0), 1 * std::cos(a0) - 9 * std::sin(a0), 1e-5);
  EXPECT_NEAR(r.q.get(8), 9 * std::cos(a0) + 1 * std::sin(a0), 1e-5);
  EXPECT_NEAR(r.q.get(1), 2 * std::cos(a1) - 10 * std::sin(a1), 1e-5);
  EXPECT_NEAR(r.q.get(9), 10 * std::cos(a1) + 2 * std::sin(a1), 1e-5);
  for (int64_t i : {0, 1, 8, 9}) EXPECT_NEAR(d.q.get(i), r.q.get(i), 1e-5) << i;
  // A rotary-dims denominator (theta^(-2/4)) would give a different second angle.
  EXPECT_GT(std::abs(r.q.get(1) - (2 * std::cos(5 * std::pow(1e6, -0.5)) - 10 * std::sin(5 * std::pow(1e6, -0.5)))), 1);
}

// Gemma-4 (spec §2.5): full layers global_head_dim 512 x 0.25 -> 64 rotated pairs of 256; sliding layers 256 -> 128.
TEST(Rope, Gemma4PairCounts) {
  EXPECT_EQ(rope_rotated_pairs(one_token(RopeType::proportional, 1e6, 0.25, 512, 1)), 64);
  EXPECT_EQ(rope_rotated_pairs(one_token(RopeType::default_rope, 1e4, 1.0, 256, 1)), 128);
  EXPECT_EQ(rope_rotated_pairs(one_token(RopeType::proportional, 1e6, 0.25, 12, 1)), 1);  // int(3.0 // 2)
  EXPECT_EQ(rope_rotated_pairs(one_token(RopeType::proportional, 1e6, 0.0, 12, 1)), 0);
}

// The fault rotates the zero-frequency pairs; the tolerance at a large position still sees it.
TEST(Rope, FullRotaryFaultMovesTheUntouchedDims) {
  const RopeCase c = one_token(RopeType::proportional, 1e6, 0.25, 512, 100000);
  const RopeOutputs r = reference::rope(c);
  device::Options opt;
  opt.fault = device::kRopeFaultFullRotaryOnFullLayers;
  const RopeOutputs bad = device::rope(c, opt), good = device::rope(c);
  const oracle::Tolerance tol = oracle::rope_tolerance(c, r, bad);
  double worst_bad = 0, worst_good = 0;
  for (int64_t i = 0; i < c.q.numel(); ++i) {
    worst_bad = std::max(worst_bad, std::abs(bad.q.get(i) - r.q.get(i)) - tol.rtol * std::abs(r.q.get(i)));
    worst_good = std::max(worst_good, std::abs(good.q.get(i) - r.q.get(i)) - tol.rtol * std::abs(r.q.get(i)));
  }
  EXPECT_GT(worst_bad, 10 * tol.atol);
  EXPECT_LE(worst_good, tol.atol);
}

// The angle error bound: exact for pair 0, growing with e |ln theta| for the others.
TEST(Rope, AngleErrorBound) {
  const RopeCase c = one_token(RopeType::default_rope, 1e4, 1.0, 256, 1);
  EXPECT_EQ(reference::rope_angle_rel_error(c, 0), 0.0);
  const double e = 2.0 * 127 / 256;
  // d (e ln theta + e), d2 (an fp32 pow within 4 ulp, then the reciprocal's rounding: 9), d3 (1), in 2^-24
  EXPECT_NEAR(reference::rope_angle_rel_error(c, 127), (e * std::log(1e4) + e + 10) * 0x1.0p-24, 1e-12);
  // fp32 table vs double: within the bound
  const auto inv = device::rope_inv_freq_f32(1e4, 256);
  for (int64_t i = 0; i < 128; ++i) {
    const double exact = std::pow(1e4, -2.0 * i / 256);
    EXPECT_LE(std::abs(inv[static_cast<size_t>(i)] - exact), exact * reference::rope_angle_rel_error(c, i)) << i;
  }
}

// Session 20 cross-check (tests/impl/workers/xcheck_rope.py, XCHECK_ROPE_MODE=f32): HF's own fp32 inv_freq,
// 1.0f / powf(theta_f, e_f), is a legitimate evaluation; its angles at large positions must stay within the
// tolerance (the former bound assumed a double pow and failed it by ~1%: seed 2, positions 31756..31758).
TEST(Rope, HfFp32InvFreqWithinTheBound) {
  for (const double theta : {1e4, 1e6}) {
    const RopeCase c = one_token(RopeType::default_rope, theta, 1.0, 256, 1);
    const float theta_f = static_cast<float>(theta);
    for (int64_t i = 1; i < 128; ++i) {
      const float e_f = static_cast<float>(2 * i) / 256.0f;
      const float inv_hf = 1.0f / std::pow(theta_f, e_f);
      const double exact = std::pow(theta, -2.0 * static_cast<double>(i) / 256);
      EXPECT_LE(std::abs(static_cast<double>(inv_hf) - exact), exact * reference::rope_angle_rel_error(c, i))
          << theta << " " << i;
    }
  }
  // The failing case's element: q[1, 0, 129] at position 31756 (pair 1): the fp32 evaluation within tolerance.
  RopeCase c = one_token(RopeType::default_rope, 1e4, 1.0, 256, 31756);
  const RopeOutputs r = reference::rope(c);
  const float inv1 = 1.0f / std::pow(1e4f, 2.0f / 256.0f);
  const float a = static_cast<float>(31756) * inv1;
  const float x = static_cast<float>(c.q.get(1)), y = static_cast<float>(c.q.get(129));
  const float hf = x * std::cos(a) - y * std::sin(a);
  const oracle::Tolerance tol = oracle::rope_tolerance(c, r, r);
  EXPECT_LE(std::abs(hf - r.q.get(1)), tol.atol + tol.rtol * std::abs(r.q.get(1)));
}

// Session 20 cross-check (xcheck_rope.py, XCHECK_ROPE_MODE=hf32): HF's apply_rotary_pos_emb in bf16 - fp32
// angles and cos/sin, cos/sin cast to bf16, x*cos + rotate_half(x)*sin with every product and the sum rounded
// to bf16 - is within the bf16 tolerance (the former one-rounding bound failed it: proportional, hd 8,
// positions [1, 1], k[1, 0, 4] 1 ulp off).
TEST(Rope, HfBf16EvaluationWithinTheTolerance) {
  for (const int64_t pos : {1, 7, 1000, 100000}) {
    for (const RopeType type : {RopeType::default_rope, RopeType::proportional}) {
      const double theta = type == RopeType::proportional ? 1e6 : 1e4;
      const RopeCase c = one_token(type, theta, type == RopeType::proportional ? 0.25 : 1.0, 64, pos, DType::bf16);
      const RopeOutputs r = reference::rope(c);
      const oracle::Tolerance tol = oracle::rope_tolerance(c, r, r);
      const int64_t h = 32, pairs = rope_rotated_pairs(c);
      auto rb = [](float v) { return to_float(to_bf16(v)); };
      for (int64_t i = 0; i < h; ++i) {
        const float inv = i < pairs ? 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / 64.0f) : 0.0f;
        const float a = static_cast<float>(pos) * inv, cs = rb(std::cos(a)), sn = rb(std::sin(a));
        const float x = static_cast<float>(c.q.get(i)), y = static_cast<float>(c.q.get(i + h));
        const float o1 = rb(rb(x * cs) + rb(-y * sn)), o2 = rb(rb(y * cs) + rb(x * sn));
        EXPECT_LE(std::abs(o1 - r.q.get(i)), tol.atol + tol.rtol * std::abs(r.q.get(i))) << pos << " " << i;
        EXPECT_LE(std::abs(o2 - r.q.get(i + h)), tol.atol + tol.rtol * std::abs(r.q.get(i + h))) << pos << " " << i;
      }
    }
  }
}

TEST(Rope, ValidationNamesTheField) {
  RopeCase c = one_token(RopeType::default_rope, 1e4, 1.0, 4, 3);
  RopeCase odd = c;
  odd.head_dim = 3;
  expect_invalid(odd, "case.head_dim", "even");
  RopeCase factor = c;
  factor.partial_rotary_factor = 0.25;
  expect_invalid(factor, "case.partial_rotary_factor", "must be 1 for rope_type default");
  RopeCase neg = c;
  neg.positions.set(0, -1);
  expect_invalid(neg, "case.positions[0]", "[0, 2^24)");
  RopeCase big = c;
  big.positions.set(0, static_cast<double>(kRopeMaxPosition));
  expect_invalid(big, "case.positions[0]", "[0, 2^24)");
  RopeCase shape = c;
  shape.q = Tensor(DType::f32, {1, 2, 4});
  expect_invalid(shape, "case.q", "num_q_heads");
  RopeCase dtype = c;
  dtype.k = Tensor(DType::bf16, {1, 1, 4});
  expect_invalid(dtype, "case.k", "dtype must be the case dtype f32");
  RopeCase pos_dtype = c;
  pos_dtype.positions = Tensor(DType::f32, {1});
  expect_invalid(pos_dtype, "case.positions", "i32 or i64");
  RopeCase theta = c;
  theta.theta = 1.0;
  expect_invalid(theta, "case.theta", "> 1");
}

// Ragged positions: each token's rows of a batched, shuffled case equal the token run alone (the registered
// per-token batching rule), and i32 positions give the i64 result.
TEST(Rope, TokensAreIndependentAndPositionDtypeDoesNotMatter) {
  fuzz::RopeSpec s;
  s.rope_type = RopeType::proportional;
  s.theta = 1e6;
  s.factor = 0.25;
  s.head_dim = 16;
  s.num_q_heads = 2;
  s.seqs = {{0, 3}, {4000, 1}, {131072, 2}};
  s.shuffle = true;
  s.repeat = true;
  s.seed = 7;
  const RopeCase c = fuzz::materialize(s);
  const auto rule = fuzz::rope_batching_rule();
  const RopeOutputs all = device::rope(c);
  for (int64_t t = 0; t < c.num_tokens(); ++t) {
    const RopeOutputs one = device::rope(rule.slice_case(c, t));
    EXPECT_EQ(rule.slice_outputs(all, c, t).q, one.q) << t;
    EXPECT_EQ(rule.slice_outputs(all, c, t).k, one.k) << t;
  }
  s.pos_dtype = DType::i64;
  const RopeCase c64 = fuzz::materialize(s);
  EXPECT_EQ(device::rope(c64).q, all.q);
  EXPECT_EQ(reference::rope(c64).q, reference::rope(c).q);
}
