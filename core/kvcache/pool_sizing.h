#pragma once
/// Case and output types of `pool_sizing`: hybrid SWA/full KV pool sizes from available memory
/// (spec: shared/spec/gemma4-kvcache-speculative.md §3.1, §3.3; spec README decision 10).
#include <cstdint>

#include "core/fields.h"
#include "core/tensor.h"

namespace lockstep {

struct PoolSizingCase {
  int64_t available_bytes = 0;      ///< KV budget after weights/activations (bytes)
  int64_t num_full_layers = 0;      ///< full-attention layers (may be 0: all-SWA model)
  int64_t num_swa_layers = 0;       ///< sliding-window layers (>= 1)
  int64_t full_bytes_per_token = 0; ///< F = kv_heads * (head_dim + v_head_dim) * element size
  int64_t swa_bytes_per_token = 0;  ///< S, same for SWA layers
  int64_t page_size = 1;
  int64_t num_experts = 0;          ///< model config: > 0 = MoE (selects the default ratio)
  double ratio = 0;                 ///< --swa-full-tokens-ratio; 0 = model default
  int64_t sliding_window = 0;       ///< 0 = unknown (no feasibility check)

  template <class V>
  void fields(V& v) {
    v("available_bytes", available_bytes, IntRange{0, int64_t{1} << 62});
    v("num_full_layers", num_full_layers, IntRange{0, int64_t{1} << 20});
    v("num_swa_layers", num_swa_layers, IntRange{1, int64_t{1} << 20});
    v("full_bytes_per_token", full_bytes_per_token, IntRange{1, int64_t{1} << 40});
    v("swa_bytes_per_token", swa_bytes_per_token, IntRange{1, int64_t{1} << 40});
    v("page_size", page_size, IntRange{1, int64_t{1} << 20});
    v("num_experts", num_experts, IntRange{0, int64_t{1} << 20});
    v("ratio", ratio);
    v("sliding_window", sliding_window, IntRange{0, kFieldInt32Max});
  }
};

struct PoolSizingOutputs {
  Tensor tokens;  ///< i64 (2): full_tokens_per_layer, swa_tokens_per_layer

  template <class V>
  void fields(V& v) {
    v("tokens", tokens);
  }
};

/// Pool sizes of spec §3.3 / decision 10 (the formula is documented in reference/kvcache/pool_sizing.h).
struct PoolSizes {
  int64_t full_tokens = 0;
  int64_t swa_tokens = 0;
};

/// swa_full_tokens_ratio default: 0.15 for MoE models (num_experts > 0), 0.8 otherwise (decision 10).
double default_swa_full_tokens_ratio(int64_t num_experts);

/// The specification's sizes, without validation. They live in core/ because the case's validity is
/// defined on them (spec §3.3 raises when the SWA pool cannot hold one request), and validate() is shared
/// by both sides; reference::kvcache::pool_sizing is validate() + this. The device side computes its own
/// (device/kvcache/pool_sizing_kernel.h).
PoolSizes pool_sizes_unvalidated(const PoolSizingCase& c);

/// Throws Error naming the field: negative memory, no SWA layer, non-positive bytes, page < 1, ratio < 0,
/// and `case.sliding_window` when sliding_window > 0 and sliding_window + page_size >= the SWA pool's tokens
/// (spec §3.3: "SWA pool cannot hold even one request").
void validate(const PoolSizingCase& c);

}  // namespace lockstep
