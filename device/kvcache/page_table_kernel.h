#pragma once
/// Single-source page-table construction, full->SWA translation and the checked read walk (spec:
/// shared/spec/gemma4-kvcache-speculative.md §4.4; reference: reference/kvcache/page_table.h).
///
/// Grid: one block per batch row. Phase 1 (block-stride over columns j < cols):
///   tok = req_to_token[req_pool_indices[b] * max_context + j * page_size]
///   page_table[b, j] = tok / page_size; swa_page_table[b, j] = mapping[tok] / page_size
///   (mapping index -1 -> the last entry, -1; any index outside [-1, mapping_len - 1) -> -1)
/// Phase 1 is skipped when req_to_token is null (tables given, e.g. a serving-side dump).
/// Phase 2 (block-stride over the row's READ columns, full then SWA): every entry goes through the
/// checked accessor `table_page`, which records an OobRead for a page outside [1, num_pages]
/// (0 = reserved/unallocated/evicted; num_pages 0 = no upper bound) and never dereferences it. Integer only, exact.
#include <cstdint>

#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum KvTableFault : int {
  kKvFaultNone = 0,
  kKvFaultStaleTrailingEntriesRead = 1,  ///< the read walk covers every column up to max_seq_len_k
  kKvFaultSwaStateNotSwapped = 2,        ///< SWA layers use the full-pool table (no translation)
  kKvFaultClampPageIndex = 3,            ///< not swapped + entries clamped to [0, num_pages]: no OOB, wrong pages
};

/// The one kv_trace fault that is not the kernel's: the kv_trace composition (oracle/kvcache/kv_trace.h)
/// runs the pool model with upstream's decode order (PoolOptions::decode_checks_both_pools = false) and
/// the kernel without a fault.
enum KvTraceFault : int {
  kKvTraceFaultDecodePartialAllocLeak = 4,  ///< after the KvTableFault ids 1..3
};

inline constexpr Fault kKvTraceFaults[] = {
    {"stale_trailing_entries_read", kKvFaultStaleTrailingEntriesRead,
     "seed 004 root cause: trailing req_to_token entries of short rows (up to max_seq_len_k) translated and read"},
    {"swa_state_not_swapped", kKvFaultSwaStateNotSwapped,
     "seed 004 Patch E: SWA layers read full-pool page indices (backend SWA state not swapped with the pool)"},
    {"clamp_page_index", kKvFaultClampPageIndex,
     "seed 004 PR #5 (reverted): SWA state not swapped, page indices clamped into range: no OOB, wrong pages read"},
    {"decode_partial_alloc_leak", kKvTraceFaultDecodePartialAllocLeak,
     "seed 004 / spec 4.2: full decode allocation kept when the SWA allocation fails"},
};

/// `page_table` (a page-table dump through the same read walk).
inline constexpr Fault kPageTableFaults[] = {
    {"stale_trailing_entries_read", kKvFaultStaleTrailingEntriesRead,
     "seed 004 root cause on a page-table dump: the read walk covers every column, not ceil(L/page)"},
};

struct KvTableParams {
  const int32_t* req_to_token;      // (slots, max_context)
  const int32_t* req_pool_indices;  // (B)
  const int32_t* cache_seqlens;     // (B)
  const int32_t* q_lens;            // (B)
  const int64_t* mapping;           // (mapping_len) or null
  int64_t max_context, mapping_len;
  int32_t batch, cols, page_size, window;
  int32_t full_pages, swa_pages;
  int32_t table_offset;  // flat slot offset reported in OobRead.slot (several tables share one log)
  int32_t fault;
  int32_t* page_table;      // (B, cols)
  int32_t* swa_page_table;  // (B, cols) or null
  int64_t req_to_token_len;  // entries of req_to_token (slots * max_context)
  OobLog oob;

  template <class V>
  void buffers(V& v) {
    const int64_t cells = int64_t{batch} * cols;
    v.in(req_to_token, req_to_token_len);
    v.in(req_pool_indices, batch);
    v.in(cache_seqlens, batch);
    v.in(q_lens, batch);
    v.in(mapping, mapping_len);
    v.inout(page_table, cells);  // the read walk alone (no req_to_token) reads given tables
    v.inout(swa_page_table, cells);
    oob.buffers(v);
  }
};

/// The read walk's OOB log (device/core/cpu_launch.h).
inline OobLog* oob_log(KvTableParams& p) { return &p.oob; }

LS_HD inline int32_t kv_floor_div(int64_t a, int64_t b) {
  return static_cast<int32_t>(a >= 0 ? a / b : -((-a + b - 1) / b));
}

/// Checked accessor: the page at (row, col), or -1 after recording why it must not be read.
/// SWA entries are reported at slot table_offset + batch*cols + row*cols + col.
LS_HD inline int32_t kv_table_page(const KvTableParams& P, const int32_t* table, int32_t num_pages, int32_t row,
                                   int32_t col, int32_t slot_offset) {
  const int32_t page = table[int64_t{row} * P.cols + col];
  if (page < 1 || (num_pages > 0 && page > num_pages)) {
    P.oob.record(row, col * P.page_size, slot_offset + row * P.cols + col, page, num_pages);
    return -1;
  }
  return page;
}

LS_HD inline void kv_table_block(const KvTableParams& P, const BlockCtx& ctx, int64_t row) {
  const int32_t b = static_cast<int32_t>(row);
  const bool swapped = P.fault != kKvFaultSwaStateNotSwapped && P.fault != kKvFaultClampPageIndex;
  const int64_t build_cols = P.req_to_token ? P.cols : 0;
  const int64_t base = P.req_to_token ? int64_t{P.req_pool_indices[b]} * P.max_context : 0;
  LS_FOR_THREADS(ctx, j, build_cols) {
    const int64_t tok = P.req_to_token[base + j * P.page_size];
    P.page_table[int64_t{b} * P.cols + j] = kv_floor_div(tok, P.page_size);
    if (!P.swa_page_table) continue;
    int64_t swa = tok;
    if (swapped) swa = tok >= -1 && tok < P.mapping_len - 1 ? P.mapping[tok < 0 ? P.mapping_len - 1 : tok] : -1;
    int32_t page = kv_floor_div(swa, P.page_size);
    if (P.fault == kKvFaultClampPageIndex) page = page < 0 ? 0 : page > P.swa_pages ? P.swa_pages : page;
    P.swa_page_table[int64_t{b} * P.cols + j] = page;
  }
  ctx.sync();
  // Read walk: full layers keys [0, L); SWA layers keys [max(0, L - q - W + 1), L).
  const int32_t L = P.cache_seqlens[b], q = P.q_lens[b];
  int32_t end = (L + P.page_size - 1) / P.page_size;
  if (P.fault == kKvFaultStaleTrailingEntriesRead) end = P.cols;
  int32_t first_key = L - q - P.window + 1;
  first_key = P.window > 0 && first_key > 0 ? first_key : 0;
  const int32_t swa_first = first_key / P.page_size < end ? first_key / P.page_size : end;
  LS_FOR_THREADS(ctx, j, end) kv_table_page(P, P.page_table, P.full_pages, b, static_cast<int32_t>(j), P.table_offset);
  if (P.swa_page_table) {
    LS_FOR_THREADS(ctx, j, end - swa_first)
    kv_table_page(P, P.swa_page_table, P.swa_pages, b, static_cast<int32_t>(swa_first + j),
                  P.table_offset + P.batch * P.cols);
  }
}

/// The kernel body the launcher runs (device/core/launch.h): one block per batch row.
LS_HD inline void kernel_block(const KvTableParams& P, const BlockCtx& ctx, int64_t row, unsigned char*) {
  kv_table_block(P, ctx, row);
}

}  // namespace lockstep::device
