#pragma once
/// `pool_sizing`: hybrid SWA/full KV pool sizes from available memory, as sglang's configurator computes
/// them at startup (spec: shared/spec/gemma4-kvcache-speculative.md §3.1, §3.3; decision 10).
#include "core/fields.h"

namespace lockstep {

struct PoolSizingCase {
  int64_t available_bytes = 0;                      ///< KV budget after weights/activations (bytes)
  int64_t num_full_layers = 0, num_swa_layers = 0;  ///< full may be 0 (all-SWA model)
  int64_t full_bytes_per_token = 0, swa_bytes_per_token = 0;  ///< F, S: kv_heads * (head_dim + v_head_dim) * elt
  int64_t page_size = 1, num_experts = 0;  ///< num_experts > 0: MoE (selects the default ratio)
  double ratio = 0;                        ///< --swa-full-tokens-ratio; 0 = the model default
  int64_t sliding_window = 0;              ///< 0 = unknown (no feasibility check)

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
  Tensor tokens;  ///< i64 (2): full_tokens_per_layer, swa_tokens_per_layer (exact)
  template <class V>
  void fields(V& v) { v("tokens", tokens); }
};

/// swa_full_tokens_ratio default (decision 10): 0.15 for MoE models (num_experts > 0), 0.8 otherwise.
inline double default_swa_full_tokens_ratio(int64_t num_experts) { return num_experts > 0 ? 0.15 : 0.8; }

/// The formula, in upstream's float arithmetic (r = case.ratio, or `default_ratio` when it is 0):
///   cell = F * n_full + r * S * n_swa; max_tokens = int(available_bytes // cell) (Python float `//`);
///   full = align(max_tokens), swa = align(int(full * r)), align(x) = x // page * page;
///   all-SWA (n_full == 0): cell = S * n_swa, full = 0, swa = align(max_tokens). No validation.
PoolSizingOutputs pool_sizes(const PoolSizingCase& c, double default_ratio);

/// Throws Error naming the field: an integer outside its IntRange, ratio outside [0, 1], and
/// `case.sliding_window` when sliding_window + page_size >= the SWA pool's tokens (spec §3.3).
void validate(const PoolSizingCase& c);

}  // namespace lockstep
