#pragma once
/// Reference `qkv_rmsnorm` (spec gemma4 §2.1/§2.2): per token and head, in double, each output rounded once
/// to the case dtype: q*rrms(q)*q_weight, k*rrms(k)*k_weight, v*rrms(v) (no weight); q only on a KV-shared
/// layer. rrms as reference::rrms (reference/norm/rmsnorm.h).
#include "core/norm/qkv_rmsnorm.h"

namespace lockstep::reference {

QkvRmsNormOutputs qkv_rmsnorm(const QkvRmsNormCase& c);

}  // namespace lockstep::reference
