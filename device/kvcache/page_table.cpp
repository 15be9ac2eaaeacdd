#include "device/kvcache/page_table.h"

#include <algorithm>

#include "core/error.h"
#include "device/core/launch.h"
#include "device/kvcache/page_table_kernel.h"

namespace lockstep::device {

namespace {

/// Runs the kernel over every row on `options.backend` and collects the read log (sorted by slot: thread
/// order is unspecified on the GPU).
void launch_tables(KvTableParams& P, const Options& options, KvTableResult& r) {
  const int64_t capacity = 4 * std::max<int64_t>(1, int64_t{P.batch} * P.cols) + 16;
  std::vector<OobRead> log(static_cast<size_t>(capacity));
  int count = 0;
  P.oob = OobLog{log.data(), static_cast<int>(capacity), &count};
  LaunchGrid grid;
  grid.blocks = P.batch;
  grid.threads = 128;
  launch(P, grid, options);
  log.resize(static_cast<size_t>(std::min<int64_t>(count, capacity)));
  std::sort(log.begin(), log.end(), [](const OobRead& a, const OobRead& b) { return a.slot < b.slot; });
  r.reads = std::move(log);
  r.dropped = std::max<int64_t>(0, count - capacity);
}

KvTableParams params_for(PageTables& t, const std::vector<int32_t>& cache_seqlens,
                         const std::vector<int32_t>& q_lens, const ReadWindow& w, int fault) {
  require(static_cast<int64_t>(cache_seqlens.size()) == t.batch, "cache_seqlens", cache_seqlens.size(),
          "must have one entry per row");
  require(static_cast<int64_t>(q_lens.size()) == t.batch, "q_lens", q_lens.size(), "must have one entry per row");
  KvTableParams P{};
  P.cache_seqlens = cache_seqlens.data();
  P.q_lens = q_lens.data();
  P.batch = static_cast<int32_t>(t.batch);
  P.cols = static_cast<int32_t>(t.cols);
  P.page_size = static_cast<int32_t>(w.page_size);
  P.window = static_cast<int32_t>(w.window);
  P.full_pages = static_cast<int32_t>(w.full_pages);
  P.swa_pages = static_cast<int32_t>(w.swa_pages);
  P.fault = fault;
  P.page_table = t.page_table.data();
  P.swa_page_table = t.swa_page_table.empty() ? nullptr : t.swa_page_table.data();
  return P;
}

std::vector<int32_t> ones_if_empty(const std::vector<int32_t>& q_lens, int64_t batch) {
  return q_lens.empty() ? std::vector<int32_t>(static_cast<size_t>(batch), 1) : q_lens;
}

}  // namespace

KvTableResult build_page_tables(const PageTableInput& in, const ReadWindow& w, const Options& options,
                                int32_t table_offset) {
  // The shape check is core's (one definition of a well-formed input, shared with the reference); the
  // kernel fills the zeroed tables.
  KvTableResult r;
  r.tables = allocate_page_tables(in);
  const std::vector<int32_t> q_lens = ones_if_empty(in.q_lens, r.tables.batch);
  KvTableParams P = params_for(r.tables, in.cache_seqlens, q_lens, w, options.fault);
  P.req_to_token = in.req_to_token.data();
  P.req_pool_indices = in.req_pool_indices.data();
  P.mapping = in.mapping.empty() ? nullptr : in.mapping.data();
  P.max_context = in.max_context;
  P.mapping_len = static_cast<int64_t>(in.mapping.size());
  P.page_size = static_cast<int32_t>(in.page_size);
  P.req_to_token_len = static_cast<int64_t>(in.req_to_token.size());
  P.table_offset = table_offset;
  launch_tables(P, options, r);
  return r;
}

KvTableResult walk_page_tables(const PageTables& tables, const std::vector<int32_t>& cache_seqlens,
                               const std::vector<int32_t>& q_lens, const ReadWindow& w, const Options& options) {
  KvTableResult r;
  r.tables = tables;
  const std::vector<int32_t> q = ones_if_empty(q_lens, tables.batch);
  KvTableParams P = params_for(r.tables, cache_seqlens, q, w,
                              options.fault == kKvFaultStaleTrailingEntriesRead ? options.fault : 0);
  launch_tables(P, options, r);
  return r;
}

PageTableDumpOutputs page_table(const PageTableDumpCase& c, const Options& options) {
  const PageTableDumpInput in = page_table_dump_input(c);
  const KvTableResult r = walk_page_tables(in.tables, in.cache_seqlens, in.q_lens, in.window, options);
  const int64_t cells = in.tables.batch * in.tables.cols;
  std::vector<int32_t> flat;
  for (const OobRead& o : r.reads) {
    const bool swa = o.slot >= cells;
    const int64_t cell = swa ? o.slot - cells : o.slot;
    flat.insert(flat.end(), {swa ? 1 : 0, static_cast<int32_t>(cell / in.tables.cols),
                             static_cast<int32_t>(cell % in.tables.cols), o.page, o.page == 0 ? 1 : 0});
  }
  return {Tensor::from<int32_t>({static_cast<int64_t>(flat.size() / 5), 5}, flat)};
}

}  // namespace lockstep::device
