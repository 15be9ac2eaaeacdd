#pragma once
/// Element types and bit-exact round-to-nearest-even conversions, shared by host and device code.
/// No Eigen, no fmt, no std::string here: this header is included by .cu files.
#include <cstdint>
#include <cstring>

#include "core/config.h"

namespace lockstep {

enum class DType : int { f32 = 0, bf16 = 1, f16 = 2, i32 = 3, i64 = 4, boolean = 5 };

/// bfloat16 storage: the upper 16 bits of an IEEE binary32.
struct bf16 {
  uint16_t bits;
};
/// IEEE binary16 storage.
struct f16 {
  uint16_t bits;
};

LS_HD inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
LS_HD inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

LS_HD inline float to_float(bf16 x) { return bits_float(static_cast<uint32_t>(x.bits) << 16); }

/// float -> bf16, round to nearest, ties to even; NaN stays a quiet NaN with its sign.
LS_HD inline bf16 to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
    return bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};
  }
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return bf16{static_cast<uint16_t>(u >> 16)};
}

LS_HD inline float to_float(f16 x) {
  uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  uint32_t exp = (x.bits >> 10) & 0x1fu;
  uint32_t man = x.bits & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // inf / nan
  if (exp == 0) {
    if (man == 0) return bits_float(sign);
    // subnormal: value = man * 2^-24, exact in float
    float v = static_cast<float>(man) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
}

/// float -> f16, round to nearest, ties to even, with subnormals, overflow to inf, NaN kept.
LS_HD inline f16 to_f16(float f) {
  uint32_t u = float_bits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t abs = u & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan
    uint16_t nan = abs > 0x7f800000u ? static_cast<uint16_t>(0x0200u | ((abs >> 13) & 0x3ffu)) : 0;
    return f16{static_cast<uint16_t>(sign | 0x7c00u | nan)};
  }
  if (abs >= 0x477ff000u) return f16{static_cast<uint16_t>(sign | 0x7c00u)};  // rounds to inf
  if (abs < 0x38800000u) {  // result is subnormal or zero (|f| < 2^-14)
    if (abs < 0x33000000u) return f16{sign};  // < 2^-25: rounds to zero
    uint32_t exp = abs >> 23;
    uint32_t man = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exp;  // 113 - (exp - 13): bits to drop to reach 2^-24 units
    uint32_t kept = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (kept & 1u))) ++kept;
    return f16{static_cast<uint16_t>(sign | kept)};
  }
  uint32_t lsb = (abs >> 13) & 1u;
  abs += 0xfffu + lsb;
  abs -= 112u << 23;
  return f16{static_cast<uint16_t>(sign | (abs >> 13))};
}

/// Storage element -> float for the three floating types, used by kernels templated on storage.
LS_HD inline float load_f32(float x) { return x; }
LS_HD inline float load_f32(bf16 x) { return to_float(x); }
LS_HD inline float load_f32(f16 x) { return to_float(x); }
template <class T>
LS_HD inline T store_as(float x);
template <>
LS_HD inline float store_as<float>(float x) { return x; }
template <>
LS_HD inline bf16 store_as<bf16>(float x) { return to_bf16(x); }
template <>
LS_HD inline f16 store_as<f16>(float x) { return to_f16(x); }

}  // namespace lockstep
