#include "reference/kvcache/kv_sharing.h"

#include <algorithm>
#include <cstring>

#include "reference/attention/ragged_paged_attention.h"

namespace lockstep::reference {
namespace {

/// Copies row `src_row` of a (rows, width) view into row `dst_row` of another (same dtype).
void copy_row(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t width) {
  const size_t bytes = static_cast<size_t>(width) * dtype_size(src.dtype());
  std::memcpy(dst.raw() + dst_row * bytes, src.raw() + src_row * bytes, bytes);
}

}  // namespace

KvSharingOutputs kv_sharing(const KvSharingCase& c) {
  validate(c);
  const int64_t L = c.num_layers, R = c.num_reqs, T = c.num_tokens(), first = c.first_shared();
  const int64_t Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim, n = c.num_logits_indices;
  KvSharingOutputs o;

  // §2.5: src = max{ j < first_shared : layer_types[j] == layer_types[i] }.
  std::vector<int32_t> src(static_cast<size_t>(L), kKvSourceNotShared);
  for (int64_t i = first; i < L; ++i) {
    int64_t best = -1;
    for (int64_t j = 0; j < first; ++j)
      if (c.layer_types.get_int(j) == c.layer_types.get_int(i)) best = std::max(best, j);
    src[static_cast<size_t>(i)] = best >= 0 ? static_cast<int32_t>(best) : kKvSourceNoMatch;
    if (best < 0 && o.config_error.empty()) o.config_error = kv_sharing_error(c, i);
  }
  o.kv_source = Tensor::from<int32_t>({L}, src);

  // §6.2: per request, the logits indices inside [qsl[r], qsl[r+1]).
  std::vector<int32_t> qsl(static_cast<size_t>(R + 1)), ids;
  int64_t max_seq = 0;
  for (int64_t r = 0; r < R; ++r) max_seq = std::max<int64_t>(max_seq, c.seq_lens.get_int(r));
  if (c.pure_decode()) {
    for (int64_t r = 0; r <= R; ++r) qsl[r] = static_cast<int32_t>(c.query_start_loc.get_int(r));
    o.max_query_len = c.max_query_len;
  } else {
    for (int64_t r = 0; r < R; ++r) {
      int32_t count = 0;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t li = c.logits_indices_padded.get_int(k);
        if (c.query_start_loc.get_int(r) <= li && li < c.query_start_loc.get_int(r + 1)) {
          ++count;
          ids.push_back(static_cast<int32_t>(r));
        }
      }
      qsl[r + 1] = qsl[r] + count;
      o.max_query_len = std::max<int64_t>(o.max_query_len, count);
    }
  }
  o.request_ids = Tensor::from<int32_t>({static_cast<int64_t>(ids.size())}, ids);
  o.query_start_loc = Tensor::from<int32_t>({R + 1}, qsl);
  o.num_actual_tokens = qsl[R];
  o.seq_lens = c.seq_lens;
  o.num_reqs = R;
  o.max_seq_len = max_seq;
  if (!o.config_error.empty()) return o;

  // The layer stack.
  o.kv_cache = c.kv_cache;
  o.out = Tensor(c.dtype, {L, T, Hq, D});
  std::vector<int32_t> writes(static_cast<size_t>(L * T), -1);
  const int64_t n_act = o.num_actual_tokens;
  // Reduced row k -> (request, key position): the last (qsl'[r+1] - qsl'[r]) positions of request r.
  std::vector<int64_t> row_req(static_cast<size_t>(n_act)), row_pos(static_cast<size_t>(n_act));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = qsl[r]; k < qsl[r + 1]; ++k) {
      row_req[k] = r;
      row_pos[k] = c.seq_lens.get_int(r) - (qsl[r + 1] - k);
    }
  auto accumulate = [&](const RpaOutputs& a) {
    o.logit_bound = std::max(o.logit_bound, a.logit_bound);
    o.value_bound = std::max(o.value_bound, a.value_bound);
    o.softmax_error = std::max(o.softmax_error, a.softmax_error);
  };
  for (int64_t l = 0; l < L; ++l) {
    Tensor out_l;
    if (src[l] == kKvSourceNotShared) {
      // Self-decoder layer: every token, its own K/V saved into its own cache.
      const RpaOutputs a = ragged_paged_attention(kv_sharing_attention_case(
          c, l, kv_sharing_layer(c.q, l), kv_sharing_layer(c.k, l), kv_sharing_layer(c.v, l),
          kv_sharing_layer(o.kv_cache, l), c.query_start_loc));
      accumulate(a);
      out_l = a.out;
      std::memcpy(o.kv_cache.raw() + l * a.kv_cache.nbytes(), a.kv_cache.raw(), a.kv_cache.nbytes());
      for (int64_t r = 0; r < R; ++r) {
        const int64_t q0 = c.query_start_loc.get_int(r), prefix = c.seq_lens.get_int(r) - c.q_len(r);
        for (int64_t j = 0; j < c.q_len(r); ++j)
          writes[l * T + q0 + j] = static_cast<int32_t>(kv_sharing_slot(c, r, prefix + j));
      }
    } else {
      // Cross-decoder layer: reduced rows only, reading the source's cache as it is now (complete), saving
      // nothing. The new positions' K/V handed to the attention are the source cache's entries.
      const Tensor src_cache = kv_sharing_layer(o.kv_cache, src[l]);
      const Tensor q_l = kv_sharing_layer(c.q, l);
      Tensor q(c.dtype, {n_act, Hq, D}), k(c.dtype, {n_act, Hkv, D}), v(c.dtype, {n_act, Hkv, D});
      for (int64_t row = 0; row < n_act; ++row) {
        copy_row(q, row, q_l, c.logits_indices_padded.get_int(row), Hq * D);
        const int64_t slot = kv_sharing_slot(c, row_req[row], row_pos[row]);
        for (int64_t g = 0; g < Hkv; ++g) {
          copy_row(k, row * Hkv + g, src_cache, slot * 2 * Hkv + 2 * g, D);
          copy_row(v, row * Hkv + g, src_cache, slot * 2 * Hkv + 2 * g + 1, D);
        }
      }
      const RpaOutputs a = ragged_paged_attention(
          kv_sharing_attention_case(c, l, q, k, v, src_cache, Tensor::from<int32_t>({R + 1}, qsl)));
      accumulate(a);
      out_l = Tensor(c.dtype, {T, Hq, D});
      std::memcpy(out_l.raw(), a.out.raw(), a.out.nbytes());
    }
    std::memcpy(o.out.raw() + l * out_l.nbytes(), out_l.raw(), out_l.nbytes());
  }
  o.slot_writes = Tensor::from<int32_t>({L, T}, writes);
  return o;
}

Tensor kv_sharing_full_pass(const KvSharingCase& c, int64_t layer, int64_t source) {
  validate(c);
  return ragged_paged_attention(kv_sharing_attention_case(c, layer, kv_sharing_layer(c.q, layer),
                                                          kv_sharing_layer(c.k, source), kv_sharing_layer(c.v, source),
                                                          kv_sharing_layer(c.kv_cache, source), c.query_start_loc))
      .out;
}

}  // namespace lockstep::reference
