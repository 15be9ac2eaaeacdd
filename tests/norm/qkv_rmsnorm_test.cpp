// Per-head q/k/v RMSNorm (spec gemma4 §2.1/§2.2): goldens per head, v without weight, the KV-shared layer
// (q only), GQA head counts that do not divide, validation.
#include <cmath>

#include <gtest/gtest.h>

#include "core/error.h"
#include "device/norm/qkv_rmsnorm.h"
#include "device/norm/qkv_rmsnorm_kernel.h"
#include "oracle/norm/qkv_rmsnorm.h"
#include "reference/norm/qkv_rmsnorm.h"

using namespace lockstep;

namespace {

Tensor mat(int64_t rows, int64_t cols, const std::vector<double>& v, DType dt = DType::f32) {
  Tensor t(dt, {rows, cols});
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}
Tensor vec(const std::vector<double>& v, DType dt = DType::f32) {
  Tensor t(dt, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}

void expect_device_agrees(const QkvRmsNormCase& c) {
  const auto ref = reference::qkv_rmsnorm(c);
  const auto dev = device::qkv_rmsnorm(c);
  const oracle::Tolerance tol = oracle::qkv_rmsnorm_tolerance(c, ref, dev);
  for (auto [r, d] : {std::pair{&ref.q_out, &dev.q_out}, {&ref.k_out, &dev.k_out}, {&ref.v_out, &dev.v_out}}) {
    const auto diff = oracle::compare_tensor("x", *r, *d, tol);
    EXPECT_TRUE(diff.passed) << diff.failure;
  }
}

const double kR34 = 1 / std::sqrt(12.5 + 1e-6);  // head [3, 4]
const double kR68 = 1 / std::sqrt(50 + 1e-6);    // head [6, 8]

}  // namespace

TEST(QkvRmsNorm, PerHeadGoldensVHasNoWeight) {
  // T = 1, nq = 3, nkv = 2 (3 is not a multiple of 2), hd = 2.
  QkvRmsNormCase c;
  c.num_q_heads = 3;
  c.num_kv_heads = 2;
  c.head_dim = 2;
  c.q = mat(1, 6, {3, 4, 6, 8, 0, 0});
  c.k = mat(1, 4, {6, 8, 3, 4});
  c.v = mat(1, 4, {3, 4, -6, -8});
  c.q_weight = vec({2, 1});
  c.k_weight = vec({0.5, -1});
  const auto o = reference::qkv_rmsnorm(c);
  auto f = [](double v) { return round_to(DType::f32, v); };
  EXPECT_EQ(o.q_out.values(), (std::vector<double>{f(3 * kR34 * 2), f(4 * kR34), f(6 * kR68 * 2), f(8 * kR68), 0, 0}));
  EXPECT_EQ(o.k_out.values(), (std::vector<double>{f(6 * kR68 * 0.5), f(-8 * kR68), f(3 * kR34 * 0.5), f(-4 * kR34)}));
  EXPECT_EQ(o.v_out.values(), (std::vector<double>{f(3 * kR34), f(4 * kR34), f(-6 * kR68), f(-8 * kR68)}));
  expect_device_agrees(c);
  // The v-weighted fault multiplies v by k's weight.
  const auto bad = device::qkv_rmsnorm(c, device::Options{Backend::cpu, device::kQkvNormFaultVWeighted});
  EXPECT_NEAR(bad.v_out.get(0), 3 * kR34 * 0.5, 1e-6);
}

TEST(QkvRmsNorm, KvSharedLayerNormalisesQOnly) {
  QkvRmsNormCase c;
  c.dtype = DType::bf16;
  c.num_q_heads = 2;
  c.num_kv_heads = 4;  // irrelevant on a shared layer
  c.head_dim = 2;
  c.kv_shared = 1;
  c.q = mat(2, 4, {3, 4, 6, 8, 1, 1, 0, 0}, DType::bf16);
  c.q_weight = vec({1, 1}, DType::bf16);
  const auto o = reference::qkv_rmsnorm(c);
  EXPECT_TRUE(o.k_out.empty() && o.v_out.empty());
  EXPECT_EQ(o.q_out.get(0), round_to(DType::bf16, 3 * kR34));
  EXPECT_EQ(o.q_out.get(6), 0.0);  // a zero head stays zero (rrms = 1/sqrt(eps))
  expect_device_agrees(c);
  // k given on a shared layer is an error.
  c.k = mat(2, 8, std::vector<double>(16, 1), DType::bf16);
  EXPECT_THROW(reference::qkv_rmsnorm(c), Error);
}

TEST(QkvRmsNorm, ValidationNamesTheField) {
  QkvRmsNormCase c;
  c.head_dim = 2;
  c.q = mat(1, 3, {1, 2, 3});
  c.q_weight = vec({1, 1});
  c.kv_shared = 1;
  try {
    reference::qkv_rmsnorm(c);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("case.q"), std::string::npos) << e.what();
  }
  c.q = mat(1, 2, {1, 2});
  c.eps = -1;
  EXPECT_THROW(device::qkv_rmsnorm(c), Error);
}
