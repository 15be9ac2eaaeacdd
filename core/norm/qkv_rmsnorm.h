#pragma once
/// Case and output types of `qkv_rmsnorm`: Gemma-4's per-head q/k/v norms (spec gemma4 §2.1 "Per-head
/// norms", §2.2 S1 gemma_qkv_rmsnorm). Per token t and head h, over the head's hd = head_dim elements:
///   q_out = q*rrms(q)*q_weight, k_out = k*rrms(k)*k_weight, v_out = v*rrms(v)   (v: no weight; w, not 1 + w)
/// rrms(v) = 1 / sqrt(sum(v^2) / hd + eps), fp32 on the device. On a KV-shared layer (kv_shared = 1) only q
/// is normalised: k, v, k_weight and the k/v outputs are empty. num_q_heads and num_kv_heads are
/// independent (S1 takes nq and nkv separately; GQA ratios need not divide).
///
/// Layouts: q (T, nq*hd), k and v (T, nkv*hd), q_weight and k_weight (hd), all `dtype` (bf16/f16/f32);
/// outputs in `dtype` (S1 writes in place).
#include <cstdint>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

struct QkvRmsNormCase {
  DType dtype = DType::f32;
  int64_t num_q_heads = 1;
  int64_t num_kv_heads = 1;
  int64_t head_dim = 1;
  int64_t kv_shared = 0;  ///< 1: KV-shared layer, q only
  double eps = 1e-6;
  int64_t data_seed = 0;  ///< informational
  Tensor q, k, v, q_weight, k_weight;

  template <class V>
  void fields(V& v) {
    v("dtype", dtype);
    v("num_q_heads", num_q_heads, IntRange{1, 1024});
    v("num_kv_heads", num_kv_heads, IntRange{1, 1024});
    v("head_dim", head_dim, IntRange{1, 4096});
    v("kv_shared", kv_shared, IntRange{0, 1});
    v("eps", eps);
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("q", q);
    v("k", k);
    v("v", this->v);
    v("q_weight", q_weight);
    v("k_weight", k_weight);
  }

  int64_t tokens() const { return q.rank() == 2 ? q.dim(0) : 0; }
};

struct QkvRmsNormOutputs {
  Tensor q_out, k_out, v_out;  ///< k_out, v_out empty on a KV-shared layer

  template <class V>
  void fields(V& v) {
    v("q_out", q_out, Rule{Rule::tolerance});
    v("k_out", k_out, Rule{Rule::tolerance});
    v("v_out", v_out, Rule{Rule::tolerance});
  }
};

/// Validates dtype, head counts, shapes (q (T, nq*hd); k, v (T, nkv*hd) or empty when kv_shared), weights,
/// eps (finite, in [FLT_MIN, 1e4]) and finite values. Throws Error naming the field.
void validate(const QkvRmsNormCase& c);

/// Zero-filled outputs in `out_dtype` (the case dtype, or f32 for the device's f32-output run).
QkvRmsNormOutputs qkv_rmsnorm_alloc(const QkvRmsNormCase& c, DType out_dtype);

}  // namespace lockstep
