#pragma once
/// Generator for `qkv_rmsnorm` cases and its per-token batching rule: every dtype, KV-shared (q only) and
/// not, nq a multiple of nkv and not (S1 takes them independently), head_dim 1, odd, up to 512, T = 0,
/// zero heads (rrms = 1/sqrt(eps)), tiny and big magnitudes, eps from 1e-6 to 1.
#include <cstdint>

#include <rapidcheck.h>

#include "core/norm/qkv_rmsnorm.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

struct QkvNormSpec {
  DType dtype = DType::f32;
  int32_t tokens = 1, nq = 1, nkv = 1, head_dim = 1;
  int32_t kv_shared = 0;
  double eps = 1e-6;
  int32_t magnitude = 0;
  uint64_t data_seed = 0;
};

QkvRmsNormCase materialize(const QkvNormSpec& spec);
rc::Gen<QkvRmsNormCase> gen_qkv_rmsnorm_case();
/// Per token: slice i is token i.
BatchingRule<QkvRmsNormCase, QkvRmsNormOutputs> qkv_rmsnorm_batching_rule();

}  // namespace lockstep::fuzz
