#include "fuzz/core/batching.h"

#include <cstring>

#include "core/error.h"
#include "fuzz/core/pick.h"

namespace lockstep::fuzz {

Shape pick_extra_dims() {
  // Uniform at every campaign size; counts shrink toward 0 dims, sizes toward 1.
  const int n = pick({0, 0, 0, 1, 1, 1, 1, 2, 2, 3});
  Shape s;
  for (int i = 0; i < n; ++i) s.push_back(pick<int64_t>({1, 1, 1, 0, 2, 2, 2, 3, 3, 3}));
  return s;
}

Tensor stack_leading(const Shape& extra, const Shape& slice_shape, const std::vector<Tensor>& slices) {
  Shape shape = extra;
  shape.insert(shape.end(), slice_shape.begin(), slice_shape.end());
  const DType dt = slices.empty() ? DType::i32 : slices[0].dtype();
  Tensor out(dt, shape);
  require(static_cast<int64_t>(slices.size()) == shape_numel(extra), "stack_leading", slices.size(),
          "slice count must equal the product of the extra dims");
  size_t at = 0;
  for (const Tensor& s : slices) {
    require(s.shape() == slice_shape && s.dtype() == dt, "stack_leading", s.describe(), "slices must match");
    copy_bytes(out.raw() + at, s.raw(), s.nbytes());
    at += s.nbytes();
  }
  return out;
}

Tensor slice_leading(const Tensor& t, size_t n_lead, int64_t index) {
  require(t.rank() >= n_lead, "slice_leading", t.describe(), "fewer dims than the leading dims to slice");
  const Shape inner(t.shape().begin() + static_cast<std::ptrdiff_t>(n_lead), t.shape().end());
  Tensor out(t.dtype(), inner);
  copy_bytes(out.raw(), t.raw() + static_cast<size_t>(index) * out.nbytes(), out.nbytes());
  return out;
}

Tensor leading_row(const Tensor& t, int64_t index) {
  if (t.rank() == 0) return t;
  require(index >= 0 && index < t.dim(0), "leading_row", std::to_string(index), "row out of range of " + t.describe());
  Shape shape = t.shape();
  shape[0] = 1;
  Tensor out(t.dtype(), shape);
  copy_bytes(out.raw(), t.raw() + static_cast<size_t>(index) * out.nbytes(), out.nbytes());
  return out;
}

}  // namespace lockstep::fuzz
