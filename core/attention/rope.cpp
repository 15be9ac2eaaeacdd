#include "core/attention/rope.h"

#include <cmath>

namespace lockstep {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 26;

bool float_dtype(DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; }

void check_heads(const Tensor& t, const std::string& name, DType dtype, int64_t T, int64_t heads, int64_t hd) {
  const std::string field = "case." + name;
  require(t.dtype() == dtype, field, t.describe(), fmt::format("dtype must be the case dtype {}", dtype_name(dtype)));
  require(t.shape() == Shape{T, heads, hd}, field, t.describe(),
          fmt::format("shape must be (T, {}, head_dim) = {}", name == "q" ? "num_q_heads" : "num_kv_heads",
                      shape_str(Shape{T, heads, hd})));
  require(t.numel() <= kMaxElements, field, t.describe(), "too many elements");
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.get(i))) throw Error(fmt::format("{}[{}]", field, i), fmt::format("{}", t.get(i)), "must be finite");
}

}  // namespace

int64_t rope_rotated_pairs(const RopeCase& c) {
  if (c.rope_type == RopeType::default_rope) return c.head_dim / 2;
  return static_cast<int64_t>(std::floor(c.partial_rotary_factor * static_cast<double>(c.head_dim) / 2));
}

void validate(const RopeCase& c) {
  require_ranges(c, "case");
  require(float_dtype(c.dtype), "case.dtype", dtype_name(c.dtype), "must be f32, bf16 or f16");
  require(c.head_dim % 2 == 0, "case.head_dim", c.head_dim, "must be even (dim i pairs with dim i + head_dim/2)");
  require(std::isfinite(c.theta) && c.theta > 1, "case.theta", c.theta, "must be finite and > 1");
  require(std::isfinite(c.partial_rotary_factor) && c.partial_rotary_factor >= 0 && c.partial_rotary_factor <= 1,
          "case.partial_rotary_factor", c.partial_rotary_factor, "must be in [0, 1]");
  require(c.rope_type == RopeType::proportional || c.partial_rotary_factor == 1.0, "case.partial_rotary_factor",
          c.partial_rotary_factor, "must be 1 for rope_type default (only proportional rope rotates part of the head)");
  require(c.positions.rank() == 1, "case.positions", c.positions.describe(), "must have rank 1: (T)");
  require(c.positions.dtype() == DType::i32 || c.positions.dtype() == DType::i64, "case.positions",
          c.positions.describe(), "dtype must be i32 or i64");
  const int64_t T = c.positions.numel();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = c.positions.get_int(t);
    if (p < 0 || p >= kRopeMaxPosition)
      throw Error(fmt::format("case.positions[{}]", t), std::to_string(p),
                  fmt::format("must be in [0, 2^24) (HF converts positions to fp32: exact integers below {})",
                              kRopeMaxPosition));
  }
  check_heads(c.q, "q", c.dtype, T, c.num_q_heads, c.head_dim);
  check_heads(c.k, "k", c.dtype, T, c.num_kv_heads, c.head_dim);
}

}  // namespace lockstep
