#include "reference/metadata/nsa_metadata.h"

#include <algorithm>

namespace lockstep::reference {

NsaOutputs nsa_metadata(const NsaCase& c) {
  validate(c);
  NsaOutputs o = nsa_alloc(c);
  const int64_t W = c.width(), Wr = c.real_width(), ps = c.page_size;
  auto cache = o.cache_seqlens.span<int32_t>();
  auto cu_k = o.cu_seqlens_k.span<int32_t>();
  auto expanded = o.seqlens_expanded.span<int32_t>();
  auto nsa = o.nsa_cache_seqlens.span<int32_t>();
  auto nsa_cu_k = o.nsa_cu_seqlens_k.span<int32_t>();
  auto nsa_cu_q = o.nsa_cu_seqlens_q.span<int32_t>();
  auto pt = c.page_table.span<int32_t>();
  auto pt1 = o.page_table_1.span<int32_t>();
  auto real = o.real_page_table.span<int32_t>();
  int64_t t = 0;
  for (int64_t r = 0; r < c.bs(); ++r) {
    const int64_t qo = c.qo_len(r), kv = c.kv_len(r);
    cache[r] = static_cast<int32_t>(kv);
    cu_k[r + 1] = static_cast<int32_t>(cu_k[r] + kv);
    for (int64_t j = 0; j < qo; ++j, ++t) {
      expanded[t] = static_cast<int32_t>(kv - qo + 1 + j);
      nsa[t] = static_cast<int32_t>(std::min<int64_t>(expanded[t], c.topk));
      nsa_cu_k[t + 1] = nsa_cu_k[t] + nsa[t];
      nsa_cu_q[t + 1] = static_cast<int32_t>(t + 1);
      for (int64_t w = 0; w < W; ++w) pt1[t * W + w] = pt[r * W + w];
      for (int64_t w = 0; w < Wr; ++w) real[t * Wr + w] = pt[r * W + w * ps] / static_cast<int32_t>(ps);
    }
  }
  o.num_tokens.span<int32_t>()[0] = static_cast<int32_t>(t);
  return o;
}

}  // namespace lockstep::reference
