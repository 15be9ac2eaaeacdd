#pragma once
/// The batching (vmap) rule, generically: a batched case splits into independent slices, and the batched
/// outputs restricted to slice i equal the op's outputs on slice i alone — `op(batched) ==
/// stack(op(slice) for each slice)` for stacked extra leading dims, or the ragged per-sequence/per-request
/// form for ops that batch by concatenation. oracle/batching.h checks a rule on a case (integers exact,
/// floats within tolerance); each op that declares batchable inputs provides its rule next to its
/// generator (fuzz/<family>/<op>.h).
#include <cstdint>
#include <functional>
#include <vector>

#include <rapidcheck.h>

#include "core/tensor.h"

namespace lockstep::fuzz {

template <class Case, class Outputs>
struct BatchingRule {
  /// Number of independent slices of a batched case.
  std::function<int64_t(const Case&)> slices;
  /// Slice i as a case of its own.
  std::function<Case(const Case&, int64_t)> slice_case;
  /// The part of the batched outputs that belongs to slice i. A field left absent (default Tensor) is not
  /// per-slice (e.g. a KV cache all slices write) and is not compared.
  std::function<Outputs(const Outputs&, const Case&, int64_t)> slice_outputs;
  /// Stacked rules: the extra leading dims every output must start with (empty function: ragged rule).
  std::function<Shape(const Case&)> leading_shape;
};

/// 0–3 extra leading batch dims with sizes 0, 1 and >1 (call inside rc::gen::exec).
Shape pick_extra_dims();

/// Stacks equal-shaped `slices` (numel(extra) of them, row-major over `extra`) into extra + slice shape.
Tensor stack_leading(const Shape& extra, const Shape& slice_shape, const std::vector<Tensor>& slices);

/// The `index`-th slice of `t` over its first `n_lead` dims (flattened row-major).
Tensor slice_leading(const Tensor& t, size_t n_lead, int64_t index);

/// Row `index` of `t` over its first dim, kept as a (1, ...) tensor (per-row / per-token rules); a rank-0
/// tensor (an input or output the case does not use) is returned as it is.
Tensor leading_row(const Tensor& t, int64_t index);

}  // namespace lockstep::fuzz
