#pragma once
/// Ragged paged attention over a batch's page table (the consumer of the tables built in
/// reference/kvcache/page_table.h): one RpaCase per layer kind, so the attention kernels read the KV
/// cache through exactly these tables with their checked accessors (a bad table gives an OOB report,
/// not a crash; a wrong-but-in-range table gives a diverging output).
///
/// Layout: f32, causal, 2 query heads / 1 KV head, head_dim 8; row b is sequence b with q_lens[b] new
/// tokens and cache_seqlens[b] keys; its pages are table row b (cu_kv_lens = b * cols * page);
/// kv_cache has num_pages + 1 pages (page 0 = the pool's dummy page). Values are a pure function of
/// `seed`, so reference and device see the same data. window > 0 = sliding window of W keys.
#include <cstdint>
#include <vector>

#include "core/attention/ragged_paged_attention.h"

namespace lockstep::reference::kvcache {

RpaCase paged_attention_case(const std::vector<int32_t>& table, int64_t cols, const std::vector<int32_t>& cache_seqlens,
                             const std::vector<int32_t>& q_lens, int64_t page_size, int64_t window, int64_t num_pages,
                             uint64_t seed);

}  // namespace lockstep::reference::kvcache
