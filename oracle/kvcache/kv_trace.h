#pragma once
/// The device side of `kv_trace`, composed in the oracle: the reference KV memory model
/// (reference/kvcache/kv_trace.h, `replay_trace`) replays the commands with the engine's pool options,
/// and the injected step builds, translates and read-walks the page tables of every step with the
/// device kernel (device/kvcache/page_table.h), then runs the device attention kernel through them.
/// The device layer itself never includes the reference. Faults (device/kvcache/page_table_kernel.h kKvTraceFaults): the table
/// faults go to the kernel; `decode_partial_alloc_leak` selects upstream's decode order in the pool.
#include <string>
#include <vector>

#include "core/kvcache/kv_trace.h"
#include "core/oob.h"
#include "device/core/options.h"
#include "oracle/op.h"

namespace lockstep::oracle {

/// The device side of kv_trace (its registry row's device entry); `options.fault`: a kv_trace fault id
/// (device/kvcache/page_table_kernel.h kKvTraceFaults). Outputs: the device tables, counters and attention,
/// the invariant failures of the pool model, the read walk's bad entries and the attention kernel's
/// out-of-range pages.
KvTraceOutputs device_kv_trace(const KvTraceCase& c, const device::Options& options);

/// Oracle hooks of kv_trace (its row: oracle/registry.cpp).
std::vector<Region<KvTraceCase>> kv_trace_regions();
/// The attention tolerance over the longest sequence the device attended.
Tolerance kv_trace_tolerance(const KvTraceCase& c, const KvTraceOutputs& ref, const KvTraceOutputs& dev);
void kv_trace_stats(const KvTraceCase& c, const KvTraceOutputs& ref, const KvTraceOutputs& dev, Report& rep);

}  // namespace lockstep::oracle
