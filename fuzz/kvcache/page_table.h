#pragma once
/// Generator of `page_table` cases (serving-side page-table dumps): the batch tables of the last step
/// of a random kv_trace (reference model, so every read entry is valid), then stale values planted
/// where a correct kernel never reads: trailing columns of short rows, SWA columns before the window,
/// and extra columns past max_seq_len_k (the CUDA-graph path's persistent buffer). Stale values: 0,
/// -1, a valid foreign page, num_pages + 1 and INT32_MAX/MIN. Pool sizes known or unknown (0).
#include <rapidcheck.h>

#include "core/kvcache/page_table_dump.h"

namespace lockstep::fuzz {

rc::Gen<PageTableDumpCase> gen_page_table_dump_case();

}  // namespace lockstep::fuzz
