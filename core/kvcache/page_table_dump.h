#pragma once
/// Case and output types of `page_table`: a serving-side page-table dump (the seed 004 debug trap's
/// page_table + cache_seqlens, optionally the SWA table, pool sizes, page size, window), checked for
/// entries a kernel would read that are out of range or unallocated/evicted (spec:
/// shared/spec/gemma4-kvcache-speculative.md §4.4; reference/kvcache/page_table.h). Files of kind
/// "page_table_dump" (fixtures/SCHEMA.md) hold exactly these fields in /case.
///
///   page_table      i32 (B, cols)  page indices of full-attention layers (required)
///   swa_page_table  i32 (B, cols)  page indices of sliding-window layers (optional)
///   cache_seqlens   i32 (B)        keys per row (required); row b reads columns < ceil(L/page)
///   q_lens          i32 (B)        query tokens per row (optional, default 1 = decode)
#include <cstdint>

#include <vector>

#include "core/fields.h"
#include "core/kvcache/page_table.h"
#include "core/tensor.h"

namespace lockstep {

/// The file kind of a page-table dump (registered by the page_table op: oracle/kvcache/page_table.cpp).
inline constexpr char kPageTableDumpFileKind[] = "page_table_dump";

struct PageTableDumpCase {
  int64_t page_size = 1;
  int64_t window = 0;      ///< sliding window in keys of the SWA layers (0 = the SWA table is read whole)
  int64_t full_pages = 0;  ///< allocatable full-pool pages (valid 1..full_pages); 0 = unknown (no upper check)
  int64_t swa_pages = 0;   ///< same for the SWA pool
  Tensor page_table, swa_page_table, cache_seqlens, q_lens;

  template <class V>
  void fields(V& v) {
    v("page_size", page_size, IntRange{1, 4096});
    v("window", window, IntRange{0, kFieldInt32Max});
    v("full_pages", full_pages, IntRange{0, kFieldInt32Max});
    v("swa_pages", swa_pages, IntRange{0, kFieldInt32Max});
    v("page_table", page_table);
    v("swa_page_table", swa_page_table);
    v("cache_seqlens", cache_seqlens);
    v("q_lens", q_lens);
  }
  int64_t rows() const { return page_table.rank() == 2 ? page_table.dim(0) : 0; }
  int64_t cols() const { return page_table.rank() == 2 ? page_table.dim(1) : 0; }
};

struct PageTableDumpOutputs {
  /// i32 (n, 5): the bad entries a kernel reads, rows (table 0 full / 1 swa, row, col, value,
  /// problem 0 out of range / 1 unallocated-or-evicted), sorted by (table, row, col). Exact.
  Tensor read_entries;

  template <class V>
  void fields(V& v) {
    v("read_entries", read_entries, Rule{Rule::exact, "device read walk differs from the validator"});
  }
};

/// The dump as the page-table types both sides read: the tables, cache_seqlens, q_lens (1 each when absent)
/// and the read window. Calls validate(c) first.
struct PageTableDumpInput {
  PageTables tables;
  std::vector<int32_t> cache_seqlens, q_lens;
  ReadWindow window;
};
PageTableDumpInput page_table_dump_input(const PageTableDumpCase& c);

/// Throws Error naming the field: shapes, dtypes, cache_seqlens beyond the table, q_lens outside [1, L].
void validate(const PageTableDumpCase& c);

}  // namespace lockstep
