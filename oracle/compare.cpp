#include "oracle/compare.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace lockstep::oracle {

Tolerance tolerance_for(DType dtype, int64_t reduction_len) {
  const double atol = std::ldexp(1.0, -20) * std::sqrt(static_cast<double>(std::max<int64_t>(reduction_len, 1)));
  switch (dtype) {
    case DType::f32: return {atol, std::ldexp(1.0, -17)};
    case DType::bf16: return {atol, std::ldexp(1.0, -7)};
    case DType::f16: return {atol, std::ldexp(1.0, -10)};
    default: return {0, 0};
  }
}

Tolerance attention_tolerance(DType dtype, const AttentionMagnitudes& m) {
  Tolerance t = tolerance_for(dtype, m.kv_len);
  if (t.exact()) return t;
  t.atol = t.atol * std::max(1.0, m.value_bound) + m.softmax_error;
  return t;
}

namespace {
std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> coord(shape.size(), 0);
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] > 0) {
      coord[i] = flat % shape[i];
      flat /= shape[i];
    }
  }
  return coord;
}
}  // namespace

TensorDiff compare_tensor(const std::string& name, const Tensor& ref, const Tensor& dev, const Tolerance& tol) {
  TensorDiff d;
  d.name = name;
  d.tol = tol;
  if (ref.dtype() != dev.dtype() || ref.shape() != dev.shape()) {
    d.passed = false;
    d.failure = fmt::format("shape/dtype mismatch: reference {} vs device {}", ref.describe(), dev.describe());
    return d;
  }
  const int64_t n = ref.numel();
  const std::vector<double> rv = ref.values(), dv = dev.values();
  auto set_worst = [&](int64_t i, double r, double v) {
    d.worst_index = i;
    d.worst_coord = unravel(i, ref.shape());
    d.worst_ref = r;
    d.worst_dev = v;
  };
  // 2. NaN / Inf agreement (sign included). A NaN anywhere in the reference is a failure too.
  for (int64_t i = 0; i < n; ++i) {
    const double r = rv[static_cast<size_t>(i)], v = dv[static_cast<size_t>(i)];
    const bool special = std::isnan(r) || std::isnan(v) || std::isinf(r) || std::isinf(v);
    if (!special) continue;
    const bool agree = std::isnan(r) || std::isnan(v) ? tol.nan_equal && std::isnan(r) && std::isnan(v)
                                                      : r == v;  // same signed infinity
    if (!agree) {
      if (d.mismatches++ == 0) set_worst(i, r, v);
    }
  }
  if (d.mismatches > 0) {
    d.passed = false;
    d.failure = fmt::format("NaN/Inf disagreement at {} element(s)", d.mismatches);
    return d;
  }
  // 3. Tolerance.
  double worst_excess = 0, err2 = 0, ref2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double r = rv[static_cast<size_t>(i)], v = dv[static_cast<size_t>(i)];
    if (std::isinf(r) || std::isnan(r)) continue;  // agreed in check 2
    const double abs = std::fabs(v - r);
    const double rel = abs / std::max(std::fabs(r), 1e-30);
    d.max_abs = std::max(d.max_abs, abs);
    if (abs > 0) d.max_rel = std::max(d.max_rel, rel);
    err2 += abs * abs;
    ref2 += r * r;
    const double allowed = tol.atol + tol.rtol * std::fabs(r);
    const double excess = abs - allowed;
    if (excess > 0) {
      ++d.mismatches;
      if (d.worst_index < 0 || excess > worst_excess) {
        worst_excess = excess;
        set_worst(i, r, v);
      }
    } else if (d.mismatches == 0 && abs > 0 && (d.worst_index < 0 || abs > std::fabs(d.worst_dev - d.worst_ref))) {
      set_worst(i, r, v);  // no failure yet: remember the largest difference for the report
    }
  }
  d.nmse = ref2 > 0 ? err2 / ref2 : err2;
  if (d.mismatches > 0) {
    d.passed = false;
    d.failure = tol.exact() ? fmt::format("{} element(s) differ (exact comparison)", d.mismatches)
                            : fmt::format("{} element(s) beyond atol {:.3g} + rtol {:.3g}*|ref|", d.mismatches,
                                          tol.atol, tol.rtol);
  }
  return d;
}

}  // namespace lockstep::oracle
