#pragma once
/// Oracle hooks of `qkv_rmsnorm` (its row: oracle/registry.cpp): coverage regions and the tolerance of
/// q_out / k_out / v_out: each element is a normalised element of a head of width hd (norm_error.h
/// normed_rel(hd), no absolute part) stored once in the case dtype.
#include <string>
#include <vector>

#include "core/norm/qkv_rmsnorm.h"
#include "oracle/compare.h"
#include "oracle/norm/norm_error.h"
#include "oracle/op.h"

namespace lockstep::oracle {

inline std::vector<Region<QkvRmsNormCase>> qkv_rmsnorm_regions() {
  using C = const QkvRmsNormCase&;
  return Regions<QkvRmsNormCase>()
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.dtype)); })
      .values("kv_shared", {"0", "1"}, [](C c) { return std::to_string(c.kv_shared); })
      .values("gqa", {"nq=nkv", "multiple", "not_multiple"}, [](C c) {
        return c.num_q_heads == c.num_kv_heads ? "nq=nkv" : c.num_q_heads % c.num_kv_heads == 0 ? "multiple" : "not_multiple";
      })
      .values("head_dim", {"1", "odd", "even", ">=256"}, [](C c) {
        return c.head_dim == 1 ? "1" : c.head_dim >= 256 ? ">=256" : c.head_dim % 2 ? "odd" : "even";
      })
      .values("tokens", {"0", "1", ">1"}, [](C c) { return c.tokens() == 0 ? "0" : c.tokens() == 1 ? "1" : ">1"; })
      .build();
}

inline Tolerance qkv_rmsnorm_tolerance(const QkvRmsNormCase& c, const QkvRmsNormOutputs&, const QkvRmsNormOutputs&) {
  using namespace norm_error;
  double wmax = 1;
  for (const Tensor* w : {&c.q_weight, &c.k_weight})
    for (int64_t i = 0; i < w->numel(); ++i) wmax = std::max(wmax, std::fabs(w->get(i)));
  return stored(c.dtype, 0, normed_rel(c.head_dim), 0x1.0p-146 * (1 + wmax));
}

}  // namespace lockstep::oracle
