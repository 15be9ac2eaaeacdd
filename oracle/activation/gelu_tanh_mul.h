#pragma once
/// Oracle hooks of gelu_tanh_mul (its row: oracle/registry.cpp): coverage regions and the tolerance of `out`.
#include <cmath>
#include <string>
#include <vector>

#include "fuzz/activation/gelu_tanh_mul.h"
#include "oracle/op.h"
#include "oracle/rounding_tolerance.h"
#include "reference/activation/gelu_tanh_mul.h"

namespace lockstep::oracle {

namespace gelu_detail {
inline bool any_gate(const GeluTanhMulCase& c, bool (*p)(double)) {
  for (int64_t i = 0; i < c.gate.numel(); ++i)
    if (p(c.gate.get(i))) return true;
  return false;
}
}  // namespace gelu_detail

/// Coverage regions of the gelu_tanh_mul generator.
inline std::vector<Region<GeluTanhMulCase>> gelu_tanh_mul_regions() {
  using gelu_detail::any_gate;
  using C = const GeluTanhMulCase&;
  return Regions<GeluTanhMulCase>()
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.gate.dtype())); })
      .values("rows", {"0", "1", "2-8", ">8"}, [](C c) {
        return c.rows() == 0 ? "0" : c.rows() == 1 ? "1" : c.rows() <= 8 ? "2-8" : ">8";
      })
      .values("cols", {"1", "odd", "even"}, [](C c) { return c.cols() == 1 ? "1" : c.cols() % 2 ? "odd" : "even"; })
      .when("gate=zero", [](C c) { return any_gate(c, [](double g) { return g == 0 && !std::signbit(g); }); })
      .when("gate=negative_zero", [](C c) { return any_gate(c, [](double g) { return g == 0 && std::signbit(g); }); })
      .when("gate=one", [](C c) { return any_gate(c, [](double g) { return std::abs(g) == 1; }); })
      .when("gate=moderate_negative", [](C c) { return any_gate(c, [](double g) { return g < -1 && g > -4; }); })
      .when("gate=saturated_negative", [](C c) { return any_gate(c, [](double g) { return g < -10; }); })
      .when("gate=subnormal", [](C c) {
        const double normal_min = c.gate.dtype() == DType::f16 ? 0x1.0p-14 : 0x1.0p-126;
        for (int64_t i = 0; i < c.gate.numel(); ++i)
          if (c.gate.get(i) != 0 && std::abs(c.gate.get(i)) < normal_min) return true;
        return false;
      })
      .when("gate=cube_overflows_fp32", [](C c) { return any_gate(c, [](double g) { return std::abs(g) > 6.98e12; }); })
      .when("gate=f16_top_binade", [](C c) {
        return c.gate.dtype() == DType::f16 && any_gate(c, [](double g) { return std::abs(g) >= 32768; });
      })
      .build();
}

/// Tolerance of `out`: the fp32 evaluation's error bound (reference::gelu_tanh_mul_fp32_error; its absolute
/// part is the reference's `abs_error`, the largest over the case's elements) widened by the two roundings to
/// the output dtype (oracle/rounding_tolerance.h).
inline Tolerance gelu_tanh_mul_tolerance(const GeluTanhMulCase& c, const GeluTanhMulOutputs& ref,
                                         const GeluTanhMulOutputs&) {
  return stored_output_tolerance(c.gate.dtype(), ref.abs_error, reference::gelu_tanh_mul_fp32_rel());
}

}  // namespace lockstep::oracle
