#pragma once
/// Oracle hooks of ragged_paged_attention (its row: oracle/registry.cpp): coverage regions, the tolerance of
/// `out` and the statistics. The comparison rules are declared with RpaOutputs' fields.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "oracle/compare.h"
#include "oracle/op.h"
#include "reference/attention/ragged_paged_attention.h"

namespace lockstep::oracle {
namespace rpa_detail {

// Coverage helpers (ragged_paged_attention_regions).
inline bool any_seq(const RpaCase& c, const std::function<bool(int32_t q_len, int32_t kv_len)>& p) {
  for (int64_t i = 0; i < c.num_seqs; ++i)
    if (p(c.q_len(i), c.kv_len(i))) return true;
  return false;
}
/// Page-table slots no correct kernel reads: slack after each sequence's live pages and the padded tail.
inline std::vector<int64_t> unread_slot_values(const RpaCase& c) {
  const int64_t slots = c.page_indices.numel();
  std::vector<bool> live(static_cast<size_t>(slots), false);
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const int64_t first = c.cu_kv_lens.get_int(i) / c.page_size;
    const int64_t n = (c.kv_len(i) + c.page_size - 1) / c.page_size;
    for (int64_t p = first; p < std::min(first + n, slots); ++p) live[static_cast<size_t>(p)] = true;
  }
  std::vector<int64_t> v;
  for (int64_t s = 0; s < slots; ++s)
    if (!live[static_cast<size_t>(s)]) v.push_back(c.page_indices.get_int(s));
  return v;
}
inline bool any_stale(const RpaCase& c, const std::function<bool(int64_t value, int64_t pages)>& p) {
  const int64_t pages = c.kv_cache.rank() == 4 ? c.kv_cache.dim(0) : 0;
  for (int64_t v : unread_slot_values(c))
    if (p(v, pages)) return true;
  return false;
}
/// A physical page that two sequences' live page lists both hold (a shared prefix page).
inline bool shares_pages(const RpaCase& c) {
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const int64_t first = c.cu_kv_lens.get_int(i) / c.page_size;
    const int64_t n = (c.kv_len(i) + c.page_size - 1) / c.page_size;
    std::vector<int64_t> mine;
    for (int64_t p = first; p < first + n; ++p) mine.push_back(c.page_indices.get_int(p));
    for (int64_t v : mine)
      if (std::find(seen.begin(), seen.end(), v) != seen.end()) return true;
    seen.insert(seen.end(), mine.begin(), mine.end());
  }
  return false;
}

}  // namespace rpa_detail

/// Coverage regions of the ragged_paged_attention generator.
inline std::vector<Region<RpaCase>> ragged_paged_attention_regions() {
  using namespace rpa_detail;
  using C = const RpaCase&;
  auto str = [](int64_t v) { return std::to_string(v); };
  return Regions<RpaCase>()
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.dtype)); })
      .values("mask", {"causal", "dense", "segment"}, [](C c) { return std::string(enum_name(c.mode)); })
      .values("page_size", {"1", "4", "16"}, [str](C c) { return str(c.page_size); })
      .values("gqa_group", {"1", "2", "4", "8"}, [str](C c) { return str(c.num_q_heads / std::max<int64_t>(1, c.num_kv_heads)); })
      .values("kv_heads", {"1", "2", "4"}, [str](C c) { return str(c.num_kv_heads); })
      .values("head_dim", {"64", "128", "256"}, [str](C c) { return str(c.head_dim); })
      .values("batch", {"1", "2-3", "4-8"}, [](C c) { return c.num_seqs == 1 ? "1" : c.num_seqs <= 3 ? "2-3" : "4-8"; })
      .when("seq=decode", [](C c) { return any_seq(c, [](int32_t q, int32_t kv) { return q == 1 && kv > 1; }); })
      .when("seq=prefill", [](C c) { return any_seq(c, [](int32_t q, int32_t kv) { return q > 1 && kv == q; }); })
      .when("seq=extend_cached_prefix", [](C c) { return any_seq(c, [](int32_t q, int32_t kv) { return q > 1 && kv > q; }); })
      .when("edge=one_token_sequence", [](C c) { return any_seq(c, [](int32_t q, int32_t kv) { return q == 1 && kv == 1; }); })
      .when("edge=zero_length_slot", [](C c) { return c.padded_seqs() > c.num_seqs; })
      .when("edge=padded_token_rows", [](C c) { return c.num_tokens() > c.cu_q_lens.get_int(c.num_seqs); })
      .when("edge=last_partial_page", [](C c) {
        return any_seq(c, [&](int32_t, int32_t kv) { return kv % c.page_size != 0; });
      })
      .when("edge=last_partial_q_block", [](C c) {
        return any_seq(c, [&](int32_t q, int32_t) { return q > c.block_q && q % c.block_q != 0; });
      })
      .when("pages=shared_prefix", shares_pages)
      .when("stale=valid_foreign_page", [](C c) { return any_stale(c, [](int64_t v, int64_t P) { return v >= 0 && v < P; }); })
      .when("stale=-1", [](C c) { return any_stale(c, [](int64_t v, int64_t) { return v == -1; }); })
      .when("stale=P", [](C c) { return any_stale(c, [](int64_t v, int64_t P) { return v == P; }); })
      .when("stale=past_P", [](C c) {
        return any_stale(c, [](int64_t v, int64_t P) { return v > P && v < std::numeric_limits<int32_t>::max(); });
      })
      .when("stale=INT32_MAX", [](C c) {
        return any_stale(c, [](int64_t v, int64_t) { return v == std::numeric_limits<int32_t>::max(); });
      })
      .when("stale=INT32_MIN", [](C c) {
        return any_stale(c, [](int64_t v, int64_t) { return v == std::numeric_limits<int32_t>::min(); });
      })
      .values("window", {"none", "1-8", ">8"}, [](C c) {
        return c.sliding_window == 0 ? "none" : c.sliding_window <= 8 ? "1-8" : ">8";
      })
      .when("window=skips_whole_pages", [](C c) {  // live pages before every query row's window: never read
        return c.sliding_window > 0 && any_seq(c, [&](int32_t q, int32_t kv) {
                 return kv - q - c.sliding_window + 1 >= c.page_size;
               });
      })
      .values("soft_cap", {"off", "on"}, [](C c) { return c.soft_cap > 0 ? "on" : "off"; })
      // sm_scale * sqrt(D): the generator's logit levels (|logits| ~10 up to ~2e4, issue 9).
      .values("logit_scale", {"1", "4", "16", "64", "256"}, [str](C c) {
        return str(static_cast<int64_t>(std::lround(std::abs(c.sm_scale) * std::sqrt(double(c.head_dim)))));
      })
      .build();
}

/// Tolerance of `out`: the attention model over the longest sequence and the reference's magnitudes.
inline Tolerance ragged_paged_attention_tolerance(const RpaCase& c, const RpaOutputs& ref, const RpaOutputs&) {
  AttentionMagnitudes mag{1, ref.softmax_error, ref.value_bound};
  for (int64_t i = 0; i < c.num_seqs; ++i) mag.kv_len = std::max<int64_t>(mag.kv_len, c.kv_len(i));
  return attention_tolerance(c.dtype, mag);
}

inline void ragged_paged_attention_stats(const RpaCase& c, const RpaOutputs&, const RpaOutputs&, Report& rep) {
  const int64_t tokens = c.num_seqs > 0 ? c.cu_q_lens.get_int(c.num_seqs) : 0;
  rep.stats.emplace_back("tokens", static_cast<double>(tokens));
}

}  // namespace lockstep::oracle
