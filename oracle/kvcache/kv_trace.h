#pragma once
/// The device side of `kv_trace`, composed in the oracle: the reference KV memory model
/// (reference/kvcache/kv_trace.h, `replay_trace`) replays the commands with the engine's pool options,
/// and the injected step builds, translates and read-walks the page tables of every step with the
/// device kernel (device/kvcache/page_table.h), then runs the device attention kernel through them.
/// The device layer itself never includes the reference. Faults (device/core/faults.cpp): the table
/// faults go to the kernel; `decode_partial_alloc_leak` selects upstream's decode order in the pool.
#include <string>
#include <vector>

#include "core/kvcache/kv_trace.h"
#include "core/oob.h"
#include "device/core/options.h"

namespace lockstep::oracle {

struct KvTraceDeviceResult {
  KvTraceOutputs outputs;
  std::vector<OobRead> reads;               ///< bad entries the read walk met (slot = flat index into the
                                            ///< concatenated page_tables ++ swa_page_tables of all steps)
  int64_t dropped = 0;
  std::vector<OobRead> attention_oob;           ///< out-of-range pages the attention kernel met (seq = step)
  int64_t max_kv_len = 1;                       ///< longest sequence attended (for the tolerance)
  std::vector<std::string> invariant_failures;  ///< "step i: pool memory leak detected! ..."
};

/// `options.fault`: a kv_trace fault id (device/core/faults.h).
KvTraceDeviceResult device_kv_trace(const KvTraceCase& c, const device::Options& options);

}  // namespace lockstep::oracle
