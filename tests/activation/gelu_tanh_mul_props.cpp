// Properties of gelu_tanh_mul (ctest label: property): the derived error bound holds element by element (a
// stronger check than the oracle's case-wide atol: each element against its own bound), f32-output runs round
// to the bf16/f16 runs bit for bit, and the measured slack of the bound (printed: how much of the bound the
// fp32 kernel uses at worst).
#include <algorithm>
#include <cmath>
#include <iostream>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/activation/gelu_tanh_mul.h"
#include "fuzz/activation/gelu_tanh_mul.h"
#include "oracle/rounding_tolerance.h"
#include "reference/activation/gelu_tanh_mul.h"

using namespace lockstep;

namespace {
double g_worst_ratio = 0;  // largest |dev - ref| / per-element tolerance seen (f32 outputs)
}

RC_GTEST_PROP(GeluTanhMul, PerElementBoundHolds, ()) {
  const GeluTanhMulCase c = fuzz::materialize(*fuzz::gen_gelu_spec());
  const GeluTanhMulOutputs r = reference::gelu_tanh_mul(c), d = device::gelu_tanh_mul(c);
  const double rel = reference::gelu_tanh_mul_fp32_rel();
  for (int64_t i = 0; i < c.gate.numel(); ++i) {
    const double e = reference::gelu_tanh_mul_fp32_error(c.gate.get(i), c.ple.get(i)).abs;
    const oracle::Tolerance t = oracle::stored_output_tolerance(c.gate.dtype(), e, rel);
    const double ref = r.out.get(i), dev = d.out.get(i), allowed = t.atol + t.rtol * std::abs(ref);
    if (!(std::abs(dev - ref) <= allowed))
      RC_FAIL(fmt::format("element {}: gate {} ple {}: ref {} dev {} beyond {}", i, c.gate.get(i), c.ple.get(i), ref,
                          dev, allowed));
    if (c.gate.dtype() == DType::f32) g_worst_ratio = std::max(g_worst_ratio, std::abs(dev - ref) / allowed);
  }
}

RC_GTEST_PROP(GeluTanhMul, F32OutputRoundsToTheStoredOutput, ()) {
  fuzz::GeluSpec s = *fuzz::gen_gelu_spec();
  s.dtype = *rc::gen::element(DType::bf16, DType::f16);
  const GeluTanhMulCase c = fuzz::materialize(s);
  device::Options wide;
  wide.f32_output = true;
  const GeluTanhMulOutputs d = device::gelu_tanh_mul(c), w = device::gelu_tanh_mul(c, wide);
  for (int64_t i = 0; i < c.gate.numel(); ++i) RC_ASSERT(d.out.get(i) == round_to(c.gate.dtype(), w.out.get(i)));
}

TEST(GeluTanhMul, BoundSlackReport) {
  std::cout << "gelu_tanh_mul: worst f32 |dev - ref| / per-element tolerance over the property's cases: "
            << g_worst_ratio << "\n";
  EXPECT_LE(g_worst_ratio, 1.0);
}
