#pragma once
/// Oracle hooks of `page_table` (its row: oracle/registry.cpp): a (serving-side) page-table dump checked by
/// the reference validator (reference::kvcache::page_table) and by the device kernel's read walk
/// (device::page_table), which must agree exactly. The case fails when a kernel would read a bad entry
/// (each one a failure line); every bad entry, read or not, is a note saying whether it is read.
#include <vector>

#include "core/kvcache/page_table_dump.h"
#include "oracle/op.h"

namespace lockstep::oracle {

std::vector<Region<PageTableDumpCase>> page_table_regions();
/// The failure line of each bad entry a kernel reads, a note per bad entry, and the statistics.
void page_table_check(const PageTableDumpCase& c, const PageTableDumpOutputs& ref, const PageTableDumpOutputs& dev,
                      Report& rep);

}  // namespace lockstep::oracle
