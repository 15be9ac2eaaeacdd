#pragma once
/// Case and output types of `kv_sharing`: YOCO / KV-sharing fast prefill (spec:
/// shared/spec/gemma4-kvcache-speculative.md §2.5 "KV sharing", §6.1–§6.3).
///
/// One forward step of a toy decoder stack of L attention layers over a ragged batch:
///   - the source-layer rule (§2.5): first_shared = L - num_kv_shared_layers; shared layer i reads the KV of
///     src = max{ j < first_shared : layer_types[j] == layer_types[i] }; no such j -> sglang's ValueError;
///   - the fast-prefill metadata transform (§6.2) of (query_start_loc, logits_indices_padded[:n]);
///   - the layer stack: a non-shared layer l attends over the full query block (causal, sliding window on a
///     sliding layer) and writes its new tokens' K/V into its own paged cache; a shared layer (§6.1 cross-
///     decoder) attends over the reduced query block only — each request's last num_decode_tokens[r] positions,
///     seq_lens unchanged, causal — reading its source layer's cache and writing nothing (save_kv_cache=False).
///
/// Layouts (L layers, T padded token rows, R requests, P cache pages per layer, N padded logits indices):
///   layer_types            i32 (L)                 LayerType: 0 sliding_attention, 1 full_attention
///   query_start_loc        i32 (R + 1)             scheduled tokens of request r: [qsl[r], qsl[r+1])
///   seq_lens               i32 (R)                 keys per request after this step (cached prefix + new)
///   logits_indices_padded  i32 (N)                 sorted token rows whose logits are needed; entries from
///                                                  num_logits_indices on are CUDA-graph padding (never read)
///   cu_kv_lens, page_indices                       the block table, as in ragged_paged_attention (page-aligned
///                                                  capacity prefix sums; request r's pages start at slot
///                                                  cu_kv_lens[r] / page_size); shared by every layer
///   q                      dtype (L, T, Hq, D)     each layer's queries (a shared layer's come from its
///                                                  gathered rows, §6.1: row li[k] feeds reduced row k)
///   k, v                   dtype (L, T, Hkv, D)    each layer's new keys/values (a shared layer's are what it
///                                                  would compute: a correct engine never stores them)
///   kv_cache               dtype (L, P, page, 2*Hkv, D)  each layer's cache before the step (cached
///                                                  prefixes; heads interleaved K0,V0,K1,V1,...)
#include <cstdint>
#include <string>
#include <vector>

#include "core/attention/ragged_paged_attention.h"
#include "core/fields.h"
#include "core/kernel_enums.h"
#include "core/tensor.h"

namespace lockstep {

template <>
struct EnumNames<LayerType> {
  static constexpr std::array<const char*, 2> names{"sliding_attention", "full_attention"};
};

struct KvSharingCase {
  DType dtype = DType::f32;
  int64_t num_layers = 1;
  int64_t num_kv_shared_layers = 0;
  int64_t num_reqs = 1;
  int64_t max_query_len = 1;        ///< of the incoming metadata: max over requests of the scheduled tokens
  int64_t num_logits_indices = 1;   ///< n: logits_indices_padded[:n] are real
  int64_t num_q_heads = 1;
  int64_t num_kv_heads = 1;
  int64_t head_dim = 1;
  int64_t page_size = 1;
  double sm_scale = 1.0;
  int64_t sliding_window = 1;       ///< keys a sliding layer's query sees: q_pos - W < p <= q_pos
  int64_t block_q = 8;              ///< device attention tile: query rows per block
  int64_t block_kv_pages = 2;       ///< device attention tile: pages per KV block
  int64_t data_seed = 0;            ///< informational: seed the tensor values were drawn from
  Tensor layer_types, query_start_loc, seq_lens, logits_indices_padded, cu_kv_lens, page_indices;
  Tensor q, k, v, kv_cache;

  template <class V>
  void fields(V& v) {
    v("dtype", dtype);
    v("num_layers", num_layers, IntRange{1, 256});
    v("num_kv_shared_layers", num_kv_shared_layers, IntRange{0, 256});
    v("num_reqs", num_reqs, IntRange{1, 65536});
    v("max_query_len", max_query_len, IntRange{0, kFieldInt32Max});
    v("num_logits_indices", num_logits_indices, IntRange{0, kFieldInt32Max});
    v("num_q_heads", num_q_heads, IntRange{1, 1024});
    v("num_kv_heads", num_kv_heads, IntRange{1, 1024});
    v("head_dim", head_dim, IntRange{1, 1024});
    v("page_size", page_size, IntRange{1, 4096});
    v("sm_scale", sm_scale);
    v("sliding_window", sliding_window, IntRange{1, kFieldInt32Max});
    v("block_q", block_q, IntRange{1, 256});
    v("block_kv_pages", block_kv_pages, IntRange{1, 1024});
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("layer_types", layer_types);
    v("query_start_loc", query_start_loc);
    v("seq_lens", seq_lens);
    v("logits_indices_padded", logits_indices_padded);
    v("cu_kv_lens", cu_kv_lens);
    v("page_indices", page_indices);
    v("q", q);
    v("k", k);
    v("v", this->v);
    v("kv_cache", kv_cache);
  }

  int64_t num_tokens() const { return q.rank() == 4 ? q.dim(1) : 0; }
  int64_t first_shared() const { return num_layers - num_kv_shared_layers; }
  int32_t q_len(int64_t r) const {
    return static_cast<int32_t>(query_start_loc.get_int(r + 1) - query_start_loc.get_int(r));
  }
  /// Scheduled (non-padding) tokens: query_start_loc[num_reqs].
  int64_t scheduled_tokens() const { return query_start_loc.get_int(num_reqs); }
  bool pure_decode() const { return max_query_len == 1; }
  LayerType layer_type(int64_t l) const { return static_cast<LayerType>(layer_types.get_int(l)); }
};

struct KvSharingOutputs {
  /// (L) i32: kKvSourceNotShared (-1) for layers [0, first_shared), the source layer of each shared layer,
  /// kKvSourceNoMatch (-2) for a shared layer with no earlier non-shared layer of its type.
  Tensor kv_source;
  /// "" or sglang's error for the first kKvSourceNoMatch layer (spec §2.5):
  /// "KV sharing layer 5 has type full_attention but no matching type found in layers [0, 3)". When set, the
  /// model cannot be built: the layer outputs below are empty (the metadata still is computed).
  std::string config_error;
  /// Fast-prefill metadata (§6.2). Pure decode (max_query_len == 1): the incoming metadata unchanged and
  /// request_ids empty. Otherwise request_ids = bucketize(li, query_start_loc[1:], right=True) (n) i32,
  /// query_start_loc = [0] ++ cumsum(bincount(request_ids, minlength=R)) (R + 1) i32,
  /// num_actual_tokens = its last entry, max_query_len = max of the counts.
  Tensor request_ids;
  Tensor query_start_loc;
  int64_t num_actual_tokens = 0;
  int64_t max_query_len = 0;
  /// Unchanged by the transform (returned so that a side that touches them is caught).
  Tensor seq_lens;
  int64_t num_reqs = 0;
  int64_t max_seq_len = 0;
  /// (L, T) i32: the cache slot (page * page_size + offset) layer l stored token row t's K/V in, -1 where it
  /// stored nothing (every row of a shared layer, token padding rows).
  Tensor slot_writes;
  /// (L, P, page, 2*Hkv, D): every layer's cache after the step (a shared layer's own cache is untouched).
  Tensor kv_cache;
  /// (L, T, Hq, D) dtype: a non-shared layer's attention output for every token row (padding rows zero); a
  /// shared layer's for the reduced query block, row k < num_actual_tokens holding token li[k] (§6.1),
  /// rows from num_actual_tokens on zero.
  Tensor out;
  /// Reference: the attention magnitudes the tolerance of `out` is derived from (maxima over every layer's
  /// attention call, RpaOutputs); 0 on the device.
  double logit_bound = 0, value_bound = 0, softmax_error = 0;

  template <class V>
  void fields(V& v) {
    v("kv_source", kv_source);
    v("config_error", config_error);
    v("request_ids", request_ids);
    v("query_start_loc", query_start_loc);
    v("num_actual_tokens", num_actual_tokens, IntRange{0, kFieldInt32Max});
    v("max_query_len", max_query_len, IntRange{0, kFieldInt32Max});
    v("seq_lens", seq_lens);
    v("num_reqs", num_reqs, IntRange{0, 65536});
    v("max_seq_len", max_seq_len, IntRange{0, kFieldInt32Max});
    v("slot_writes", slot_writes);
    v("kv_cache", kv_cache);
    v("out", out, Rule{Rule::tolerance});
    v("logit_bound", logit_bound, Rule{Rule::info});
    v("value_bound", value_bound, Rule{Rule::info});
    v("softmax_error", softmax_error, Rule{Rule::info});
  }
};

/// Validates shapes, dtypes, the ragged batch, the block table and the logits indices; throws Error naming the
/// field. In particular (§6.3): logits_indices_padded[:n] must be sorted ascending and form a contiguous suffix
/// of each request's scheduled tokens; a pure-decode batch must have a logits index for every scheduled token
/// (its metadata is returned unchanged); n >= 1 (fast_prefill_forward asserts n > 0). An unmatched shared
/// layer type is NOT a validation error: it is the op's `config_error` output.
void validate(const KvSharingCase& c);

/// sglang's ValueError text for shared layer `layer` (spec §2.5; the "…" of the spec filled in).
std::string kv_sharing_error(const KvSharingCase& c, int64_t layer);

/// The (q_len, kv_len) window of sliding layers: 0 (none) for a full_attention layer.
inline int64_t kv_sharing_window(const KvSharingCase& c, int64_t layer) {
  return c.layer_type(layer) == LayerType::sliding_attention ? c.sliding_window : 0;
}

/// Slice `l` of a tensor over its first dim (a layer's q, k, v or cache), as a tensor of its own.
Tensor kv_sharing_layer(const Tensor& t, int64_t l);

/// The ragged_paged_attention case of one attention call of layer `layer` (causal, the layer's window, the
/// case's heads, scale, tiles and block table, seq_lens as kv_lens) over the given query block: q (rows, Hq, D),
/// the new positions' k/v (rows, Hkv, D), the cache it reads and the block's cu_q_lens (R + 1).
RpaCase kv_sharing_attention_case(const KvSharingCase& c, int64_t layer, Tensor q, Tensor k, Tensor v,
                                  Tensor kv_cache, Tensor cu_q_lens);

/// Cache slot of key position `pos` of request `r` (page_indices are validated in range).
int64_t kv_sharing_slot(const KvSharingCase& c, int64_t r, int64_t pos);

}  // namespace lockstep
