#include "core/norm/qkv_rmsnorm.h"

#include <cfloat>
#include <cmath>

#include "core/error.h"

namespace lockstep {

void validate(const QkvRmsNormCase& c) {
  require_ranges(c, "case");
  require(c.dtype == DType::f32 || c.dtype == DType::bf16 || c.dtype == DType::f16, "case.dtype",
          dtype_name(c.dtype), "must be f32, bf16 or f16");
  require(std::isfinite(c.eps) && c.eps >= FLT_MIN && c.eps <= 1e4, "case.eps", c.eps,
          "must be finite and in [FLT_MIN, 1e4]");
  require(c.q.rank() == 2, "case.q", c.q.describe(), "must have rank 2: (T, num_q_heads*head_dim)");
  const int64_t T = c.q.dim(0), hd = c.head_dim;
  require(c.q.numel() <= (int64_t{1} << 24), "case.q", c.q.describe(), "too many elements");
  auto tensor = [&](const Tensor& t, const char* name, bool used, const Shape& shape) {
    const std::string field = std::string("case.") + name;
    if (!used) {
      require(t.empty() && t.rank() <= 1, field, t.describe(), "must be empty on a KV-shared layer (kv_shared = 1)");
      return;
    }
    require(t.dtype() == c.dtype, field, t.describe(), fmt::format("dtype must equal case.dtype {}", dtype_name(c.dtype)));
    require(t.shape() == shape, field, t.describe(), fmt::format("shape must be {}", shape_str(shape)));
    const std::vector<double> v = t.values();
    for (size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i])) throw Error(field + "[" + std::to_string(i) + "]", fmt::format("{}", v[i]), "must be finite");
  };
  const bool kv = c.kv_shared == 0;
  tensor(c.q, "q", true, {T, c.num_q_heads * hd});
  tensor(c.q_weight, "q_weight", true, {hd});
  tensor(c.k, "k", kv, {T, c.num_kv_heads * hd});
  tensor(c.v, "v", kv, {T, c.num_kv_heads * hd});
  tensor(c.k_weight, "k_weight", kv, {hd});
}

QkvRmsNormOutputs qkv_rmsnorm_alloc(const QkvRmsNormCase& c, DType out_dtype) {
  QkvRmsNormOutputs o;
  o.q_out = Tensor(out_dtype, c.q.shape());
  if (c.kv_shared == 0) {
    o.k_out = Tensor(out_dtype, c.k.shape());
    o.v_out = Tensor(out_dtype, c.v.shape());
  }
  return o;
}

}  // namespace lockstep
