#pragma once
/// Out-of-range reads as an output field: an i32 (n, 5) tensor of rows [seq, token, slot, page, bound]
/// (core/oob.h), the form both sides return them in (Rule::oob_reads, core/fields.h).
#include <vector>

#include "core/oob.h"
#include "core/tensor.h"

namespace lockstep {

/// i32 (n, 5): one row per read, in order.
inline Tensor oob_tensor(const std::vector<OobRead>& reads) {
  std::vector<int32_t> flat;
  flat.reserve(reads.size() * 5);
  for (const OobRead& o : reads) flat.insert(flat.end(), {o.seq, o.token, o.slot, o.page, o.bound});
  return Tensor::from<int32_t>({static_cast<int64_t>(reads.size()), 5}, flat);
}

/// The rows of an (n, 5) tensor (an empty or absent tensor: none).
inline std::vector<OobRead> oob_list(const Tensor& t) {
  std::vector<OobRead> v;
  if (t.rank() != 2 || t.dim(1) != 5) return v;
  for (int64_t i = 0; i < t.dim(0); ++i) {
    auto at = [&](int64_t k) { return static_cast<int32_t>(t.get_int(i * 5 + k)); };
    v.push_back({at(0), at(1), at(2), at(3), at(4)});
  }
  return v;
}

}  // namespace lockstep
