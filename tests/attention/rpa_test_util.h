#pragma once
// Small hand-built ragged paged attention cases for unit tests (built through the generator's
// materialize(), then edited).
#include "fuzz/attention/ragged_paged_attention.h"

namespace lockstep::testing {

inline fuzz::RpaSpec simple_spec(std::vector<std::pair<int32_t, int32_t>> q_and_prefix, int32_t page_size = 4,
                                 int32_t hkv = 1, int32_t group = 2, int32_t d = 8) {
  fuzz::RpaSpec s;
  s.num_kv_heads = hkv;
  s.group = group;
  s.head_dim = d;
  s.page_size = page_size;
  s.block_q = 2;
  s.block_kv_pages = 1;
  s.data_seed = 42;
  for (auto [q, prefix] : q_and_prefix) {
    fuzz::RpaSeqSpec seq;
    seq.q_len = q;
    seq.prefix = prefix;
    s.seqs.push_back(seq);
  }
  return s;
}

inline fuzz::RpaSeqSpec multi_item_seq(int32_t query_len, std::vector<int32_t> items) {
  fuzz::RpaSeqSpec seq;
  seq.multi_item = true;
  seq.query_len = query_len;
  seq.item_lens = std::move(items);
  seq.q_len = query_len + 1;
  for (int32_t len : seq.item_lens) seq.q_len += len + 1;
  return seq;
}

}  // namespace lockstep::testing
