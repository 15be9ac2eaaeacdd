#pragma once
/// Oracle hooks of kv_sharing (its row: oracle/registry.cpp): coverage regions, the tolerance of `out` and the
/// statistics. The comparison rules are declared with KvSharingOutputs' fields.
#include <algorithm>
#include <string>
#include <vector>

#include "core/kvcache/kv_sharing.h"
#include "oracle/compare.h"
#include "oracle/op.h"

namespace lockstep::oracle {
namespace kv_sharing_detail {

/// Scheduled tokens and logits indices of request r.
inline int64_t logits_of(const KvSharingCase& c, int64_t r) {
  int64_t n = 0;
  for (int64_t k = 0; k < c.num_logits_indices; ++k) {
    const int64_t li = c.logits_indices_padded.get_int(k);
    n += c.query_start_loc.get_int(r) <= li && li < c.query_start_loc.get_int(r + 1);
  }
  return n;
}
template <class P>
bool any_req(const KvSharingCase& c, P p) {
  for (int64_t r = 0; r < c.num_reqs; ++r)
    if (p(c.q_len(r), logits_of(c, r), c.seq_lens.get_int(r))) return true;
  return false;
}
/// The spec's source layer of shared layer i, or -1.
inline int64_t source_of(const KvSharingCase& c, int64_t i) {
  int64_t best = -1;
  for (int64_t j = 0; j < c.first_shared(); ++j)
    if (c.layer_types.get_int(j) == c.layer_types.get_int(i)) best = j;
  return best;
}
inline bool has_config_error(const KvSharingCase& c) {
  for (int64_t i = c.first_shared(); i < c.num_layers; ++i)
    if (source_of(c, i) < 0) return true;
  return false;
}
/// Some shared layer's source is not the nearest earlier layer (first_shared - 1): the wrong-source fault differs.
inline bool source_not_nearest(const KvSharingCase& c) {
  for (int64_t i = c.first_shared(); i < c.num_layers; ++i)
    if (source_of(c, i) >= 0 && source_of(c, i) != c.first_shared() - 1) return true;
  return false;
}
/// Two shared layers read the same source (a cache overwrite by the first is read by the second).
inline bool shared_source_read_twice(const KvSharingCase& c) {
  std::vector<int64_t> seen;
  for (int64_t i = c.first_shared(); i < c.num_layers; ++i) {
    const int64_t s = source_of(c, i);
    if (s < 0) continue;
    if (std::find(seen.begin(), seen.end(), s) != seen.end()) return true;
    seen.push_back(s);
  }
  return false;
}

}  // namespace kv_sharing_detail

inline std::vector<Region<KvSharingCase>> kv_sharing_regions() {
  using namespace kv_sharing_detail;
  using C = const KvSharingCase&;
  return Regions<KvSharingCase>()
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.dtype)); })
      .values("layers", {"1", "2-4", "5-12"}, [](C c) { return c.num_layers == 1 ? "1" : c.num_layers <= 4 ? "2-4" : "5-12"; })
      .values("shared", {"none", "some", "all"}, [](C c) {
        return c.num_kv_shared_layers == 0 ? "none" : c.num_kv_shared_layers == c.num_layers ? "all" : "some";
      })
      .values("types", {"all_sliding", "all_full", "mixed"}, [](C c) {
        int64_t full = 0;
        for (int64_t l = 0; l < c.num_layers; ++l) full += c.layer_types.get_int(l);
        return full == 0 ? "all_sliding" : full == c.num_layers ? "all_full" : "mixed";
      })
      .when("config=no_matching_type", has_config_error)
      .when("source=not_nearest_layer", [](C c) { return !has_config_error(c) && source_not_nearest(c); })
      .when("source=read_by_two_shared_layers", [](C c) { return !has_config_error(c) && shared_source_read_twice(c); })
      .values("batch", {"pure_decode", "mixed"}, [](C c) { return c.pure_decode() ? "pure_decode" : "mixed"; })
      .values("reqs", {"1", "2-5"}, [](C c) { return c.num_reqs == 1 ? "1" : "2-5"; })
      .when("req=decode", [](C c) { return any_req(c, [](int64_t q, int64_t, int64_t kv) { return q == 1 && kv > 1; }); })
      .when("req=idle", [](C c) { return any_req(c, [](int64_t q, int64_t, int64_t) { return q == 0; }); })
      .when("req=prefill_last_token", [](C c) {
        return !c.pure_decode() && any_req(c, [](int64_t q, int64_t n, int64_t) { return q > 1 && n == 1; });
      })
      .when("req=prefill_no_logits", [](C c) { return any_req(c, [](int64_t q, int64_t n, int64_t) { return q > 1 && n == 0; }); })
      .when("req=verify_all_positions", [](C c) { return any_req(c, [](int64_t q, int64_t n, int64_t) { return q > 1 && n == q; }); })
      .when("req=verify_suffix", [](C c) { return any_req(c, [](int64_t q, int64_t n, int64_t) { return n > 1 && n < q; }); })
      .when("req=cached_prefix", [](C c) { return any_req(c, [](int64_t q, int64_t, int64_t kv) { return q > 1 && kv > q; }); })
      .when("edge=logits_padding", [](C c) { return c.logits_indices_padded.numel() > c.num_logits_indices; })
      .when("edge=token_padding", [](C c) { return c.num_tokens() > c.scheduled_tokens(); })
      .when("edge=window_shorter_than_seq", [](C c) {
        return any_req(c, [&](int64_t, int64_t, int64_t kv) { return kv > c.sliding_window; });
      })
      .values("page_size", {"1", "2", "4", "16"}, [](C c) { return std::to_string(c.page_size); })
      .values("gqa_group", {"1", "2", "4"}, [](C c) { return std::to_string(c.num_q_heads / c.num_kv_heads); })
      .when("head_dim=odd", [](C c) { return c.head_dim % 2 == 1; })
      .build();
}

/// Tolerance of `out`: the attention model (oracle/compare.h attention_tolerance) over the longest sequence and
/// the reference's magnitudes, maxima over every layer's attention call.
inline Tolerance kv_sharing_tolerance(const KvSharingCase& c, const KvSharingOutputs& ref, const KvSharingOutputs&) {
  AttentionMagnitudes mag{1, ref.softmax_error, ref.value_bound};
  for (int64_t r = 0; r < c.num_reqs; ++r) mag.kv_len = std::max<int64_t>(mag.kv_len, c.seq_lens.get_int(r));
  return attention_tolerance(c.dtype, mag);
}

inline void kv_sharing_stats(const KvSharingCase& c, const KvSharingOutputs& ref, const KvSharingOutputs&, Report& rep) {
  rep.stats.emplace_back("tokens", static_cast<double>(c.scheduled_tokens()));
  rep.stats.emplace_back("reduced_tokens", static_cast<double>(ref.num_actual_tokens));
}

}  // namespace lockstep::oracle
