#include "reference/kvcache/page_table.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/kvcache/floordiv.h"

namespace lockstep::reference::kvcache {

PageTables build_page_tables(const PageTableInput& in) {
  PageTables t = allocate_page_tables(in);
  const int64_t map_len = static_cast<int64_t>(in.mapping.size());
  for (int64_t b = 0; b < t.batch; ++b) {
    const int64_t slot = in.req_pool_indices[b];
    for (int64_t j = 0; j < t.cols; ++j) {
      const int64_t tok = in.req_to_token[slot * in.max_context + j * in.page_size];
      t.page_table[b * t.cols + j] = static_cast<int32_t>(python_floordiv(tok, in.page_size));
      if (in.mapping.empty()) continue;
      const int64_t swa = tok >= -1 && tok < map_len - 1 ? in.mapping[tok < 0 ? map_len - 1 : tok] : -1;
      t.swa_page_table[b * t.cols + j] = static_cast<int32_t>(python_floordiv(swa, in.page_size));
    }
  }
  return t;
}

std::pair<int64_t, int64_t> read_columns(TableKind kind, int64_t L, int64_t q, const ReadWindow& w) {
  const int64_t end = (std::max<int64_t>(L, 0) + w.page_size - 1) / w.page_size;
  int64_t first_key = 0;
  if (kind == TableKind::swa && w.window > 0) first_key = std::max<int64_t>(0, L - q - w.window + 1);
  return {std::min(first_key / w.page_size, end), end};
}

std::vector<TableEntry> table_entries(const std::vector<int32_t>& page_table, const std::vector<int32_t>& swa_page_table,
                                      int64_t cols, const std::vector<int32_t>& cache_seqlens,
                                      const std::vector<int32_t>& q_lens, const ReadWindow& w) {
  std::vector<TableEntry> out;
  auto scan = [&](const std::vector<int32_t>& table, TableKind kind, int64_t num_pages) {
    if (table.empty() || cols == 0) return;
    const int64_t rows = static_cast<int64_t>(table.size()) / cols;
    for (int64_t b = 0; b < rows; ++b) {
      const int64_t L = b < static_cast<int64_t>(cache_seqlens.size()) ? cache_seqlens[b] : 0;
      const int64_t q = b < static_cast<int64_t>(q_lens.size()) ? q_lens[b] : 1;
      const auto [first, end] = read_columns(kind, L, q, w);
      for (int64_t j = 0; j < cols; ++j) {
        const int32_t v = table[b * cols + j];
        if (v >= 1 && (num_pages <= 0 || v <= num_pages)) continue;
        TableEntry e;
        e.table = kind;
        e.row = static_cast<int32_t>(b);
        e.col = static_cast<int32_t>(j);
        e.value = v;
        e.problem = v == 0 ? EntryProblem::unallocated : EntryProblem::out_of_range;
        e.read = j >= first && j < end;
        out.push_back(e);
      }
    }
  };
  scan(page_table, TableKind::full, w.full_pages);
  scan(swa_page_table, TableKind::swa, w.swa_pages);
  return out;
}

std::vector<TableEntry> validate_page_tables(const PageTables& t, const std::vector<int32_t>& cache_seqlens,
                                             const std::vector<int32_t>& q_lens, const ReadWindow& w) {
  std::vector<TableEntry> all = table_entries(t.page_table, t.swa_page_table, t.cols, cache_seqlens, q_lens, w);
  std::erase_if(all, [](const TableEntry& e) { return !e.read; });
  return all;
}

std::string describe(const TableEntry& e) {
  return fmt::format("{}[{}, {}] = {} ({}, {})", e.table == TableKind::full ? "page_table" : "swa_page_table", e.row,
                     e.col, e.value, e.problem == EntryProblem::out_of_range ? "out of range" : "unallocated/evicted",
                     e.read ? "inside the read window" : "outside the read window");
}

PageTableDumpOutputs page_table(const PageTableDumpCase& c) {
  const PageTableDumpInput in = page_table_dump_input(c);
  std::vector<int32_t> flat;
  for (const TableEntry& e : validate_page_tables(in.tables, in.cache_seqlens, in.q_lens, in.window))
    flat.insert(flat.end(), {static_cast<int32_t>(e.table), e.row, e.col, e.value, static_cast<int32_t>(e.problem)});
  return {Tensor::from<int32_t>({static_cast<int64_t>(flat.size() / 5), 5}, flat)};
}

}  // namespace lockstep::reference::kvcache
