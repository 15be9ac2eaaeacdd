#pragma once
/// Reference page-table construction and its static validator (spec: shared/spec/
/// gemma4-kvcache-speculative.md §4.4, trtllm_mha `init_forward_metadata`, non-CUDA-graph path).
///
///   page_table[b, j]     = req_to_token[req_pool_indices[b], j * page_size] // page_size
///   swa_page_table[b, j] = mapping[req_to_token[req_pool_indices[b], j * page_size]] // page_size
///   (`//` is floor division as in the spec's torch code: an unallocated entry -1 gives -1, not 0)
///   j in [0, cols), cols = ceil(max_seq_len_k / page_size)   (page size 1: token indices, cols = max_k)
/// Every column is built (upstream translates the whole slice, trailing entries of short rows
/// included); which entries a kernel then READS is the validator's business:
///   row b, L = cache_seqlens[b], q = q_lens[b]: queries at [L - q, L)
///     full layers: keys [0, L)                       -> columns [0, ceil(L/ps))
///     SWA layers:  keys [max(0, L - q - W + 1), L)   -> columns [first_key/ps, ceil(L/ps))
///   (decision 8: a query at position p sees keys p - W < k <= p.)
/// A read entry is bad when its page is outside [0, num_pages] of its pool (out_of_range; the pool
/// buffer holds pages 0..num_pages, page 0 the dummy) or is 0: the reserved dummy page, i.e. the token
/// was never allocated or (SWA) evicted. Unread trailing entries are reported only by `table_entries`
/// with read = false, never by the validator.
/// A mapping index outside [-1, mapping_len - 1) is out_of_range and translates to -1.
#include <cstdint>
#include <string>
#include <vector>

#include "core/kvcache/page_table.h"
#include "core/kvcache/page_table_dump.h"

namespace lockstep::reference::kvcache {

/// Builds both tables (types and the shape check: core/kvcache/page_table.h); throws Error naming the
/// field for shapes that cannot be indexed (req_pool_indices outside the pool, max_seq_len_k beyond
/// max_context).
PageTables build_page_tables(const PageTableInput& in);

enum class TableKind : int { full = 0, swa = 1 };
enum class EntryProblem : int { out_of_range = 0, unallocated = 1 };

struct TableEntry {
  TableKind table = TableKind::full;
  int32_t row = 0, col = 0;
  int32_t value = 0;
  EntryProblem problem = EntryProblem::out_of_range;
  bool read = false;  ///< inside the read window of its row
  bool operator==(const TableEntry&) const = default;
};

/// Columns [first, end) of row (L, q) a kernel reads in table `kind`.
std::pair<int64_t, int64_t> read_columns(TableKind kind, int64_t L, int64_t q, const ReadWindow& w);

/// Every bad entry of the given tables (either may be empty), read or not, sorted by (table, row, col).
std::vector<TableEntry> table_entries(const std::vector<int32_t>& page_table, const std::vector<int32_t>& swa_page_table,
                                      int64_t cols, const std::vector<int32_t>& cache_seqlens,
                                      const std::vector<int32_t>& q_lens, const ReadWindow& w);

/// The validator: the bad entries a kernel reads (table_entries filtered to read == true).
std::vector<TableEntry> validate_page_tables(const PageTables& t, const std::vector<int32_t>& cache_seqlens,
                                             const std::vector<int32_t>& q_lens, const ReadWindow& w);

/// The `page_table` op on a page-table dump: the validator's entries as PageTableDumpOutputs rows.
PageTableDumpOutputs page_table(const PageTableDumpCase& c);

/// "swa[2, 5] = 0 (unallocated, read)"
std::string describe(const TableEntry& e);

}  // namespace lockstep::reference::kvcache
