#pragma once
/// Device page-table construction + SWA translation + checked read walk (kernel:
/// device/kvcache/page_table_kernel.h), run by the CPU launcher or on CUDA; in lockstep with
/// reference/kvcache/page_table.h (exact).
#include <vector>

#include "core/oob.h"
#include "device/core/options.h"
#include "core/kvcache/page_table.h"
#include "core/kvcache/page_table_dump.h"

namespace lockstep::device {

struct KvTableResult {
  PageTables tables;
  std::vector<OobRead> reads;  ///< bad entries the read walk met: seq = row, token = first key of the
                               ///< page, slot = table_offset + row*cols + col (SWA entries: + batch*cols), page, bound
  int64_t dropped = 0;
};

/// `options.fault`: a KvTableFault id. Throws Error for inputs the reference rejects.
KvTableResult build_page_tables(const PageTableInput& in, const ReadWindow& w, const Options& options,
                                int32_t table_offset = 0);

/// The read walk alone over given tables (a serving-side dump): `tables` is not rebuilt, only read.
/// `q_lens` may be empty (1 each). Only kKvFaultStaleTrailingEntriesRead changes what is read.
KvTableResult walk_page_tables(const PageTables& tables, const std::vector<int32_t>& cache_seqlens,
                               const std::vector<int32_t>& q_lens, const ReadWindow& w, const Options& options);

/// The `page_table` op on a page-table dump: the read walk's records as PageTableDumpOutputs rows (SWA slots
/// follow the full table's; page 0 is unallocated-or-evicted, anything else out of range).
PageTableDumpOutputs page_table(const PageTableDumpCase& c, const Options& options = {});

}  // namespace lockstep::device
