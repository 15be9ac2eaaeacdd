#include "core/kvcache/page_table.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep {

int64_t page_table_cols(int64_t max_seq_len_k, int64_t page_size) { return (max_seq_len_k + page_size - 1) / page_size; }

PageTables allocate_page_tables(const PageTableInput& in) {
  require(in.page_size >= 1, "page_size", in.page_size, "must be >= 1");
  require(in.max_context >= 1, "max_context", in.max_context, "must be >= 1");
  require(in.max_seq_len_k >= 0 && in.max_seq_len_k <= in.max_context, "max_seq_len_k", in.max_seq_len_k,
          fmt::format("must be in [0, max_context = {}]", in.max_context));
  const int64_t slots = static_cast<int64_t>(in.req_to_token.size()) / in.max_context;
  PageTables t;
  t.batch = static_cast<int64_t>(in.req_pool_indices.size());
  t.cols = page_table_cols(in.max_seq_len_k, in.page_size);
  for (int64_t b = 0; b < t.batch; ++b) {
    const int64_t slot = in.req_pool_indices[b];
    require(slot >= 0 && slot < slots, fmt::format("req_pool_indices[{}]", b), slot,
            fmt::format("outside req_to_token rows [0, {})", slots));
  }
  t.page_table.assign(static_cast<size_t>(t.batch * t.cols), 0);
  if (!in.mapping.empty()) t.swa_page_table.assign(t.page_table.size(), 0);
  return t;
}

}  // namespace lockstep
