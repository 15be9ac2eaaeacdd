#pragma once
/// Oracle hooks of rope (its row: oracle/registry.cpp): coverage regions and the tolerance of `q` and `k`.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz/attention/rope.h"
#include "oracle/op.h"
#include "oracle/rounding_tolerance.h"
#include "reference/attention/rope.h"

namespace lockstep::oracle {

namespace rope_detail {
inline std::vector<int64_t> positions_of(const RopeCase& c) {
  std::vector<int64_t> v;
  for (int64_t t = 0; t < c.num_tokens(); ++t) v.push_back(c.positions.get_int(t));
  return v;
}
}  // namespace rope_detail

/// Coverage regions of the rope generator.
inline std::vector<Region<RopeCase>> rope_regions() {
  using rope_detail::positions_of;
  using C = const RopeCase&;
  return Regions<RopeCase>()
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.dtype)); })
      .values("rope_type", {"default", "proportional"}, [](C c) { return std::string(enum_name(c.rope_type)); })
      .values("positions_dtype", {"i32", "i64"}, [](C c) { return std::string(dtype_name(c.positions.dtype())); })
      .when("layer=gemma4_sliding", [](C c) {
        return c.rope_type == RopeType::default_rope && c.theta == 1e4 && c.head_dim == 256;
      })
      .when("layer=gemma4_full", [](C c) {
        return c.rope_type == RopeType::proportional && c.theta == 1e6 && c.partial_rotary_factor == 0.25 &&
               c.head_dim == 512;
      })
      .values("rotated_pairs", {"none", "partial", "all"}, [](C c) {
        const int64_t r = rope_rotated_pairs(c);
        return r == 0 ? "none" : r == c.head_dim / 2 ? "all" : "partial";
      })
      .when("rotated_pairs=odd_count", [](C c) { return rope_rotated_pairs(c) % 2 == 1 && rope_rotated_pairs(c) > 1; })
      .when("pos=zero", [](C c) {
        const auto p = positions_of(c);
        return std::find(p.begin(), p.end(), 0) != p.end();
      })
      .when("pos=out_of_order", [](C c) {
        const auto p = positions_of(c);
        for (size_t i = 1; i < p.size(); ++i)
          if (p[i] < p[i - 1]) return true;
        return false;
      })
      .when("pos=repeated", [](C c) {
        auto p = positions_of(c);
        std::sort(p.begin(), p.end());
        return std::adjacent_find(p.begin(), p.end()) != p.end();
      })
      .when("pos>=2^17", [](C c) {
        const auto p = positions_of(c);
        return std::any_of(p.begin(), p.end(), [](int64_t x) { return x >= (int64_t{1} << 17); });
      })
      .values("tokens", {"0", "1", ">1"}, [](C c) {
        return c.num_tokens() == 0 ? "0" : c.num_tokens() == 1 ? "1" : ">1";
      })
      .values("heads", {"q1", "gqa"}, [](C c) { return c.num_q_heads == 1 ? "q1" : "gqa"; })
      .build();
}

/// Tolerance of `q` and `k`: the largest bound on the device's fp32 error over the case's elements (the
/// reference's `abs_error`: fp32 angle error growing with |position * inv_freq| - inv_freq as HF's fp32 pow
/// and reciprocal give it -, sinf/cosf, the rotation, and for bf16/f16 HF's own evaluation in the dtype;
/// reference::rope_angle_rel_error, rope_pair_error) widened by the two roundings to the dtype
/// (oracle/rounding_tolerance.h). The copied dims are exact on both sides.
inline Tolerance rope_tolerance(const RopeCase& c, const RopeOutputs& ref, const RopeOutputs&) {
  return stored_output_tolerance(c.dtype, ref.abs_error, 0.0);
}

}  // namespace lockstep::oracle
