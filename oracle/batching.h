#pragma once
/// Checks an op's batching rule (fuzz/core/batching.h) on one batched case: for every slice i, each
/// output field of `slice_outputs(run(batched), i)` equals the same field of `run(slice_case(batched, i))`
/// — integer tensors exactly, floating tensors within `float_tolerance` — and, for stacked rules, every
/// output starts with the extra leading dims. Returns "" or the first failure (slice, field, worst element).
#include <functional>
#include <string>

#include <fmt/format.h>

#include "core/fields.h"
#include "fuzz/core/batching.h"
#include "oracle/compare.h"

namespace lockstep::oracle {

template <class Case, class Outputs>
std::string check_batching_rule(const fuzz::BatchingRule<Case, Outputs>& rule,
                                const std::function<Outputs(const Case&)>& run, const Case& batched,
                                Tolerance float_tolerance = {}) {
  const Outputs all = run(batched);
  std::string failure;
  if (rule.leading_shape) {
    const Shape lead = rule.leading_shape(batched);
    for_each_field(all, [&](const char* name, const auto& t) {
      if constexpr (std::is_same_v<std::decay_t<decltype(t)>, Tensor>) {  // scalars (counts, bounds) are not batched
        if (!failure.empty() || (t.empty() && t.rank() <= 1)) return;  // absent or empty-by-layout outputs
        const bool ok = t.rank() >= lead.size() && Shape(t.shape().begin(), t.shape().begin() + lead.size()) == lead;
        if (!ok) failure = fmt::format("output {} {} does not start with the extra dims {}", name, t.describe(),
                                       shape_str(lead));
      }
    });
  }
  const int64_t n = rule.slices(batched);
  for (int64_t i = 0; i < n && failure.empty(); ++i) {
    const Outputs got = rule.slice_outputs(all, batched, i);
    const Outputs want = run(rule.slice_case(batched, i));
    std::vector<const void*> wants;
    for_each_field(want, [&](const char*, const auto& t) { wants.push_back(&t); });
    size_t k = 0;
    for_each_field(got, [&](const char* name, const auto& t) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(t)>, Tensor>) {
        ++k;  // scalars (counts, bounds) are not batched
        return;
      } else {
        const Tensor& w = *static_cast<const Tensor*>(wants[k++]);
        if (!failure.empty() || (t.rank() == 0 && t.empty())) return;
        const TensorDiff d = compare_tensor(name, w, t, is_floating(w.dtype()) ? float_tolerance : Tolerance{});
        if (!d.passed) failure = fmt::format("slice {} of {}: output {}: {}", i, n, name, d.failure);
      }
    });
  }
  return failure;
}

}  // namespace lockstep::oracle
