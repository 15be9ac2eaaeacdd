#include "device/kvcache/page_table.h"

#include <algorithm>

#include "core/error.h"
#include "device/kvcache/page_table_launch.h"

namespace lockstep::device {

KvTableResult build_page_tables(const reference::kvcache::PageTableInput& in, const reference::kvcache::ReadWindow& w,
                                Backend backend, int fault, int32_t table_offset) {
  // Shape checks are the reference's (one definition of a well-formed input); empty tables result.
  KvTableResult r;
  r.tables = reference::kvcache::build_page_tables(in);
  std::fill(r.tables.page_table.begin(), r.tables.page_table.end(), 0);
  std::fill(r.tables.swa_page_table.begin(), r.tables.swa_page_table.end(), 0);
  const int32_t B = static_cast<int32_t>(r.tables.batch);
  std::vector<int32_t> q_lens = in.q_lens;
  if (q_lens.empty()) q_lens.assign(static_cast<size_t>(B), 1);
  require(static_cast<int32_t>(in.cache_seqlens.size()) == B, "cache_seqlens", in.cache_seqlens.size(),
          "must have one entry per row of req_pool_indices");
  require(static_cast<int32_t>(q_lens.size()) == B, "q_lens", q_lens.size(), "must have one entry per row");
  const int64_t capacity = 4 * std::max<int64_t>(1, r.tables.batch * r.tables.cols) + 16;
  std::vector<OobRead> log(static_cast<size_t>(capacity));
  int count = 0;
  KvTableParams P{};
  P.req_to_token = in.req_to_token.data();
  P.req_pool_indices = in.req_pool_indices.data();
  P.cache_seqlens = in.cache_seqlens.data();
  P.q_lens = q_lens.data();
  P.mapping = in.mapping.empty() ? nullptr : in.mapping.data();
  P.max_context = in.max_context;
  P.mapping_len = static_cast<int64_t>(in.mapping.size());
  P.batch = B;
  P.cols = static_cast<int32_t>(r.tables.cols);
  P.page_size = static_cast<int32_t>(in.page_size);
  P.window = static_cast<int32_t>(w.window);
  P.full_pages = static_cast<int32_t>(w.full_pages);
  P.swa_pages = static_cast<int32_t>(w.swa_pages);
  P.table_offset = table_offset;
  P.fault = fault;
  P.page_table = r.tables.page_table.data();
  P.swa_page_table = in.mapping.empty() ? nullptr : r.tables.swa_page_table.data();
  P.oob = OobLog{log.data(), static_cast<int>(capacity), &count};
  if (backend == Backend::cuda) {
    require_backend(backend);
    const std::string err = kv_table_run_cuda(P, static_cast<int64_t>(in.req_to_token.size()), capacity);
    if (!err.empty()) throw Error("cuda", err, "page-table kernel failed");
  } else {
    for (int64_t b = 0; b < B; ++b) kv_table_block(P, BlockCtx{0, 1}, b);
  }
  // Thread order is unspecified on the GPU: report the log sorted by slot.
  log.resize(static_cast<size_t>(std::min<int64_t>(count, capacity)));
  std::sort(log.begin(), log.end(), [](const OobRead& a, const OobRead& b) { return a.slot < b.slot; });
  r.reads = std::move(log);
  r.dropped = std::max<int64_t>(0, count - capacity);
  return r;
}

#if !LOCKSTEP_HAVE_CUDA
std::string kv_table_run_cuda(const KvTableParams&, int64_t, int64_t) { return "built without CUDA"; }
#endif

}  // namespace lockstep::device
