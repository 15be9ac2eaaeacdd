#include "fuzz/moe/moe_routing.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/data.h"
#include "core/dtype.h"
#include "fuzz/core/pick.h"

namespace lockstep::fuzz {
namespace {

enum Pattern : int { kGaussian = 0, kSmallInts = 1, kHugeGap = 2, kSpecials = 3, kMixed = 4 };
enum ScaleKind : int { kUniform01 = 0, kOnes = 1, kSigned = 2, kLarge = 3 };

constexpr float kInf = std::numeric_limits<float>::infinity();

/// Stores an fp32 value into element i of a floating tensor (bf16/f16 rounded to nearest-even; signed zeros,
/// infinities and NaN payloads kept as far as the format holds them).
void put(Tensor& t, int64_t i, float x) {
  std::byte* p = t.raw() + static_cast<size_t>(i) * dtype_size(t.dtype());
  switch (t.dtype()) {
    case DType::bf16: { const bf16 v = to_bf16(x); std::memcpy(p, &v, 2); return; }
    case DType::f16: { const f16 v = to_f16(x); std::memcpy(p, &v, 2); return; }
    default: std::memcpy(p, &x, 4); return;
  }
}

/// A standard normal draw (Box-Muller).
double gaussian(SplitMix& rng) {
  const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

float special(SplitMix& rng) {
  switch (rng.below(8)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return kInf;
    case 3: return -kInf;
    case 4: case 5: case 6: {  // quiet NaN, either sign, payload 0..2 (kept by bf16 and f16 too)
      const uint32_t sign = rng.below(2) ? 0x80000000u : 0u;
      return bits_float(sign | 0x7FC00000u | static_cast<uint32_t>(rng.below(3)) << 16);
    }
    default: return static_cast<float>(rng.below(5)) - 2.0f;
  }
}

void fill_row(Tensor& g, int64_t t, int64_t E, int pattern, double sigma, SplitMix& rng) {
  if (pattern == kMixed) pattern = static_cast<int>(rng.below(4));
  const int64_t base = t * E;
  switch (pattern) {
    case kGaussian:
      for (int64_t e = 0; e < E; ++e) put(g, base + e, static_cast<float>(sigma * gaussian(rng)));
      return;
    case kSmallInts: {  // few distinct values: ties everywhere, across the K boundary too
      const int64_t levels = 1 + rng.below(4);
      for (int64_t e = 0; e < E; ++e) put(g, base + e, static_cast<float>(rng.below(levels) - 1));
      return;
    }
    case kHugeGap: {  // one logit far above the rest (their fp32 probabilities underflow to 0)
      for (int64_t e = 0; e < E; ++e) put(g, base + e, static_cast<float>(rng.below(9)) - 4.0f);
      put(g, base + rng.below(E), static_cast<float>(100 + rng.below(201)));
      return;
    }
    default: {  // specials among small values, or a whole row of -inf
      if (rng.below(6) == 0) {
        for (int64_t e = 0; e < E; ++e) put(g, base + e, -kInf);
        return;
      }
      for (int64_t e = 0; e < E; ++e)
        put(g, base + e, rng.below(4) == 0 ? special(rng) : static_cast<float>(sigma * gaussian(rng)));
      return;
    }
  }
}

float scale_value(int kind, SplitMix& rng) {
  switch (kind) {
    case kOnes: return 1.0f;
    case kSigned: return rng.below(4) == 0 ? 0.0f : static_cast<float>(4 * rng.uniform() - 2);
    case kLarge: return static_cast<float>(1000 * rng.uniform());
    default: return static_cast<float>(rng.uniform());
  }
}

}  // namespace

rc::Gen<MoeRoutingCase> gen_moe_routing_case() {
  return rc::gen::exec([] {
    MoeRoutingCase c;
    const DType gd = pick({DType::f32, DType::bf16, DType::f16});
    const DType sd = pick({DType::f32, DType::bf16, DType::f16});
    const int64_t E = pick<int64_t>({1, 2, 3, 4, 5, 7, 8, 16, 31, 33, 64, 100, 128, 255, 256});
    switch (pick({0, 1, 1, 1, 2})) {  // K = 1 / 2..8 / E
      case 0: c.topk = 1; break;
      case 1: c.topk = std::min<int64_t>(E, *rc::gen::inRange<int64_t>(2, 9)); break;
      default: c.topk = E; break;
    }
    int64_t T = 0;
    switch (pick({0, 0, 1, 1, 2, 3})) {  // 1 / 2..8 / 0 / 9..64 tokens
      case 0: T = 1; break;
      case 1: T = *rc::gen::inRange<int64_t>(2, 9); break;
      case 2: T = 0; break;
      default: T = *rc::gen::inRange<int64_t>(9, 65); break;
    }
    const int pattern = pick({kGaussian, kSmallInts, kHugeGap, kSpecials, kMixed, kSmallInts, kHugeGap});
    const int scale_kind = pick({kUniform01, kOnes, kSigned, kLarge});
    const double sigma = pick({1.0, 4.0, 30.0});
    const uint64_t seed = *rc::gen::noShrink(rc::gen::arbitrary<uint64_t>());
    c.data_seed = static_cast<int64_t>(seed & 0x7fffffffffffffffull);
    SplitMix rng{seed};
    c.gating_output = Tensor(gd, {T, E});
    for (int64_t t = 0; t < T; ++t) fill_row(c.gating_output, t, E, pattern, sigma, rng);
    c.per_expert_scale = Tensor(sd, {E});
    for (int64_t e = 0; e < E; ++e) put(c.per_expert_scale, e, scale_value(scale_kind, rng));
    return c;
  });
}

MoeRoutingCase moe_routing_token(const MoeRoutingCase& c, int64_t i) {
  MoeRoutingCase s = c;
  s.gating_output = leading_row(c.gating_output, i);
  return s;
}

BatchingRule<MoeRoutingCase, MoeRoutingOutputs> moe_routing_batching_rule() {
  BatchingRule<MoeRoutingCase, MoeRoutingOutputs> rule;
  rule.slices = [](const MoeRoutingCase& c) { return c.tokens(); };
  rule.slice_case = moe_routing_token;
  rule.slice_outputs = [](const MoeRoutingOutputs& o, const MoeRoutingCase&, int64_t i) {
    MoeRoutingOutputs s;
    s.topk_ids = leading_row(o.topk_ids, i);
    s.topk_weights = leading_row(o.topk_weights, i);
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
