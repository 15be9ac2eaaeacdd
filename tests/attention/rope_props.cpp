// Properties of rope (ctest label: property): the derived error bound holds element by element (each rotated
// pair against its own bound from its angle, a stronger check than the oracle's case-wide atol), the
// zero-frequency dims are copied bit for bit, f32-output runs round to the bf16/f16 runs, and the measured
// slack of the bound (printed).
#include <algorithm>
#include <cmath>
#include <iostream>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/attention/rope.h"
#include "fuzz/attention/rope.h"
#include "oracle/rounding_tolerance.h"
#include "reference/attention/rope.h"

using namespace lockstep;

namespace {

double g_worst_ratio = 0;  // largest |dev - ref| / per-element tolerance seen (f32, rotated dims)

void check_tensor(const RopeCase& c, const Tensor& x, const Tensor& ref, const Tensor& dev) {
  const int64_t T = c.num_tokens(), H = x.dim(1), hd = c.head_dim, h = hd / 2, pairs = rope_rotated_pairs(c);
  for (int64_t t = 0; t < T; ++t) {
    const double pos = static_cast<double>(c.positions.get_int(t));
    for (int64_t head = 0; head < H; ++head) {
      const int64_t base = (t * H + head) * hd;  // (t, head, :)
      for (int64_t i = 0; i < h; ++i) {
        const double a = x.get(base + i), b = x.get(base + i + h);
        if (i >= pairs) {  // untouched: bit for bit
          RC_ASSERT(dev.get(base + i) == a);
          RC_ASSERT(dev.get(base + i + h) == b);
          continue;
        }
        const double ang = pos * std::pow(c.theta, -2.0 * static_cast<double>(i) / static_cast<double>(hd));
        const double e = reference::rope_pair_error(a, b, std::abs(ang) * reference::rope_angle_rel_error(c, i));
        const oracle::Tolerance tol = oracle::stored_output_tolerance(c.dtype, e, 0.0);
        for (int64_t j : {base + i, base + i + h}) {
          const double allowed = tol.atol + tol.rtol * std::abs(ref.get(j));
          if (!(std::abs(dev.get(j) - ref.get(j)) <= allowed))
            RC_FAIL(fmt::format("token {} head {} dim {} (pos {}): ref {} dev {} beyond {}", t, head, j - base, pos,
                                ref.get(j), dev.get(j), allowed));
          if (c.dtype == DType::f32) g_worst_ratio = std::max(g_worst_ratio, std::abs(dev.get(j) - ref.get(j)) / allowed);
        }
      }
    }
  }
}

}  // namespace

RC_GTEST_PROP(Rope, PerElementBoundHoldsAndUntouchedDimsAreCopied, ()) {
  const RopeCase c = fuzz::materialize(*fuzz::gen_rope_spec());
  const RopeOutputs r = reference::rope(c), d = device::rope(c);
  check_tensor(c, c.q, r.q, d.q);
  check_tensor(c, c.k, r.k, d.k);
}

RC_GTEST_PROP(Rope, F32OutputRoundsToTheStoredOutput, ()) {
  fuzz::RopeSpec s = *fuzz::gen_rope_spec();
  s.dtype = *rc::gen::element(DType::bf16, DType::f16);
  const RopeCase c = fuzz::materialize(s);
  device::Options wide;
  wide.f32_output = true;
  const RopeOutputs d = device::rope(c), w = device::rope(c, wide);
  for (int64_t i = 0; i < c.q.numel(); ++i) RC_ASSERT(d.q.get(i) == round_to(c.dtype, w.q.get(i)));
  for (int64_t i = 0; i < c.k.numel(); ++i) RC_ASSERT(d.k.get(i) == round_to(c.dtype, w.k.get(i)));
}

TEST(Rope, BoundSlackReport) {
  std::cout << "rope: worst f32 |dev - ref| / per-element tolerance over the property's cases: " << g_worst_ratio
            << "\n";
  EXPECT_LE(g_worst_ratio, 1.0);
}
