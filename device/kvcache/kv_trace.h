#pragma once
/// Device side of `kv_trace`: the same command replay with the engine's pool options and the page
/// tables of every step built, translated and read-walked by the device kernel
/// (device/kvcache/page_table_kernel.h). Faults (device/core/faults.cpp): the table faults go to the
/// kernel; `decode_partial_alloc_leak` selects upstream's decode order in the pool (PoolOptions).
#include <string>
#include <vector>

#include "core/kvcache/kv_trace.h"
#include "core/oob.h"
#include "device/core/backend.h"

namespace lockstep::device {

enum KvTraceFault : int {
  kKvTraceFaultDecodePartialAllocLeak = 4,  ///< after the KvTableFault ids 1..3
};

struct KvTraceDeviceResult {
  KvTraceOutputs outputs;
  std::vector<OobRead> reads;               ///< bad entries the read walk met (slot = flat index into the
                                            ///< concatenated page_tables ++ swa_page_tables of all steps)
  int64_t dropped = 0;
  std::vector<OobRead> attention_oob;           ///< out-of-range pages the attention kernel met (seq = step)
  int64_t max_kv_len = 1;                       ///< longest sequence attended (for the tolerance)
  std::vector<std::string> invariant_failures;  ///< "step i: pool memory leak detected! ..."
};

KvTraceDeviceResult kv_trace(const KvTraceCase& c, Backend backend, int fault);

}  // namespace lockstep::device
