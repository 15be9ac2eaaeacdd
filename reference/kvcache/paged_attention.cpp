#include "reference/kvcache/paged_attention.h"

#include <cmath>

#include "core/data.h"

namespace lockstep::reference::kvcache {

RpaCase paged_attention_case(const std::vector<int32_t>& table, int64_t cols, const std::vector<int32_t>& cache_seqlens,
                             const std::vector<int32_t>& q_lens, int64_t page_size, int64_t window, int64_t num_pages,
                             uint64_t seed) {
  constexpr int64_t kHq = 2, kHkv = 1, kD = 8;
  const int64_t B = static_cast<int64_t>(cache_seqlens.size());
  RpaCase c;
  c.dtype = DType::f32;
  c.mode = MaskMode::causal;
  c.num_seqs = B;
  c.num_q_heads = kHq;
  c.num_kv_heads = kHkv;
  c.head_dim = kD;
  c.page_size = page_size;
  c.sm_scale = 1.0 / std::sqrt(static_cast<double>(kD));
  c.sliding_window = window;
  c.data_seed = static_cast<int64_t>(seed & 0x7fffffffffffffffull);
  std::vector<int32_t> cu_q{0}, cu_kv{0};
  for (int64_t b = 0; b < B; ++b) {
    cu_q.push_back(cu_q.back() + q_lens[b]);
    cu_kv.push_back(static_cast<int32_t>((b + 1) * cols * page_size));
  }
  const int64_t T = cu_q.back();
  c.kv_lens = Tensor::from<int32_t>({B}, cache_seqlens);
  c.cu_q_lens = Tensor::from<int32_t>({B + 1}, cu_q);
  c.cu_kv_lens = Tensor::from<int32_t>({B + 1}, cu_kv);
  c.page_indices = Tensor::from<int32_t>({static_cast<int64_t>(table.size())}, table);
  c.q = Tensor(DType::f32, {T, kHq, kD});
  c.k = Tensor(DType::f32, {T, kHkv, kD});
  c.v = Tensor(DType::f32, {T, kHkv, kD});
  c.kv_cache = Tensor(DType::f32, {num_pages + 1, page_size, 2 * kHkv, kD});
  fill_uniform(c.q, seed * 4 + 1, 1.0);
  fill_uniform(c.k, seed * 4 + 2, 1.0);
  fill_uniform(c.v, seed * 4 + 3, 1.0);
  fill_uniform(c.kv_cache, seed * 4 + 4, 1.0);
  return c;
}

}  // namespace lockstep::reference::kvcache
