#pragma once
/// Types of page-table construction shared by the reference (reference/kvcache/page_table.h: the
/// definition and the validator) and the device kernel (device/kvcache/page_table.h), plus the one
/// shape check both run before building (spec: shared/spec/gemma4-kvcache-speculative.md §4.4).
#include <cstdint>
#include <vector>

namespace lockstep {

struct PageTableInput {
  std::vector<int32_t> req_to_token;  ///< (req_slots, max_context) row-major
  int64_t max_context = 0;
  std::vector<int32_t> req_pool_indices;  ///< (B)
  std::vector<int32_t> cache_seqlens;     ///< (B)
  std::vector<int32_t> q_lens;            ///< (B) query length per row (empty = 1 each)
  int64_t max_seq_len_k = 0;
  int64_t page_size = 1;
  std::vector<int64_t> mapping;  ///< full->SWA token mapping (empty = no SWA table)
};

struct PageTables {
  int64_t batch = 0, cols = 0;
  std::vector<int32_t> page_table;      ///< (batch, cols)
  std::vector<int32_t> swa_page_table;  ///< (batch, cols); empty without a mapping
};

/// Which entries a kernel reads: the page size, the SWA window and the valid page range of each pool.
struct ReadWindow {
  int64_t page_size = 1;
  int64_t window = 0;       ///< W keys for SWA tables (0 = whole sequence)
  int64_t full_pages = 0;   ///< valid full pages 1..full_pages (0 = unknown: no upper bound)
  int64_t swa_pages = 0;    ///< valid SWA pages 1..swa_pages (0 = unknown: no upper bound)
};

/// Number of columns: ceil(max_seq_len_k / page_size).
int64_t page_table_cols(int64_t max_seq_len_k, int64_t page_size);

/// The shape check of page-table construction (one definition of a well-formed input): throws Error
/// naming the field for shapes that cannot be indexed (page_size < 1, max_context < 1, max_seq_len_k
/// outside [0, max_context], req_pool_indices outside the pool; the first bad row is named). Returns
/// the tables of the right shape, zero-filled (the SWA table only with a mapping).
PageTables allocate_page_tables(const PageTableInput& in);

}  // namespace lockstep
