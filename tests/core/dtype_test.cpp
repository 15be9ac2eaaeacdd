#include <cmath>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

using namespace lockstep;

TEST(Bf16, RoundTripsEveryPattern) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const bf16 x{static_cast<uint16_t>(b)};
    const float f = to_float(x);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(to_float(to_bf16(f))));
      continue;
    }
    EXPECT_EQ(to_bf16(f).bits, x.bits) << b;
  }
}

TEST(Bf16, RoundsToNearestEven) {
  // 1 + 2^-8 is exactly between 1 and 1 + 2^-7: ties to even -> 1.
  EXPECT_EQ(to_float(to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  // 1 + 3*2^-8 is between 1+2^-7 (odd) and 1+2^-6 (even): -> 1 + 2^-6.
  EXPECT_EQ(to_float(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(to_float(to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20))), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(to_bf16(-0.0f).bits, 0x8000);
  EXPECT_TRUE(std::isinf(to_float(to_bf16(std::numeric_limits<float>::max()))));
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::infinity()).bits, 0x7f80);
}

TEST(F16, RoundTripsEveryPattern) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const f16 x{static_cast<uint16_t>(b)};
    const float f = to_float(x);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(to_float(to_f16(f))));
      continue;
    }
    EXPECT_EQ(to_f16(f).bits, x.bits) << b;
  }
}

TEST(F16, RoundsToNearestEvenIncludingSubnormals) {
  EXPECT_EQ(to_float(to_f16(1.0f + std::ldexp(1.0f, -11))), 1.0f);  // tie -> even
  EXPECT_EQ(to_float(to_f16(1.0f + 3 * std::ldexp(1.0f, -11))), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(to_f16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(to_f16(65520.0f).bits, 0x7c00);  // rounds to inf
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -25)).bits, 0x0000);  // tie with zero -> even (zero)
  EXPECT_EQ(to_f16(std::ldexp(3.0f, -25)).bits, 0x0002);  // 1.5 ulp -> 2 (even)
  EXPECT_EQ(to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)).bits, 0x0400);  // rounds up to min normal
}

TEST(RoundTo, DoubleRoundsOnceWithoutDoubleRounding) {
  // x is just above the bf16 midpoint 1 + 2^-8 but rounds to that midpoint in float: direct rounding
  // must go up to 1 + 2^-7, double rounding would give 1.
  const double x = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);
  EXPECT_EQ(static_cast<float>(x), 1.0f + std::ldexp(1.0f, -8));
  EXPECT_EQ(round_to(DType::bf16, x), 1.0 + std::ldexp(1.0, -7));
  EXPECT_EQ(round_to(DType::f16, 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)), 1.0 + std::ldexp(1.0, -10));
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t(DType::bf16, {2, 3});
  EXPECT_EQ(t.nbytes(), 12u);
  t.set(4, 1.00390625);  // rounds to bf16
  EXPECT_EQ(t.get(4), 1.0);
  EXPECT_THROW(t.span<float>(), Error);
  EXPECT_NO_THROW(t.span<bf16>());
  EXPECT_THROW(Tensor(DType::f32, {2, -1}), Error);
}

TEST(Tensor, ParseDtypeNamesTheField) {
  EXPECT_EQ(parse_dtype("bf16", "x"), DType::bf16);
  try {
    parse_dtype("fp8", "case.dtype");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("case.dtype = fp8"), std::string::npos) << e.what();
  }
}
