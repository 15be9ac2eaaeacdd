#include "device/kvcache/kv_trace.h"

#include <algorithm>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/kvcache/page_table.h"
#include "reference/kvcache/kv_trace.h"

namespace lockstep::device {

KvTraceDeviceResult kv_trace(const KvTraceCase& c, Backend backend, int fault) {
  namespace rk = reference::kvcache;
  rk::PoolOptions options;
  options.decode_checks_both_pools = fault != kKvTraceFaultDecodePartialAllocLeak;
  const int table_fault = fault == kKvTraceFaultDecodePartialAllocLeak ? 0 : fault;
  KvTraceDeviceResult r;
  std::vector<int32_t> full, swa;
  std::vector<int64_t> counters;
  int64_t full_offset = 0;
  std::vector<OobRead> swa_reads;
  std::vector<float> attention;
  rk::replay_trace(c, options, [&](int64_t i, const rk::KvMemory& m) {
    try {
      m.check_invariant();
    } catch (const Error& e) {
      r.invariant_failures.push_back("step " + std::to_string(i) + ": " + e.what());
    }
    rk::append_counters(m.counters(), counters);
    const rk::PageTableInput in = rk::batch_input(m);
    KvTableResult t = build_page_tables(in, rk::read_window(m), backend, table_fault);
    // The attention kernel reads the KV cache through the device's tables (checked accessor).
    for (const RpaCase& a : rk::step_attention_cases(in, t.tables, rk::read_window(m), i)) {
      const RpaDeviceResult out = ragged_paged_attention(a, DeviceOptions{backend, 0});
      for (OobRead o : out.oob) {
        o.seq = static_cast<int32_t>(i);
        r.attention_oob.push_back(o);
      }
      const auto v = out.outputs.out.span<float>();
      attention.insert(attention.end(), v.begin(), v.end());
    }
    for (int32_t L : in.cache_seqlens) r.max_kv_len = std::max<int64_t>(r.max_kv_len, L);
    // Re-base slots into the concatenated outputs: full entries at full_offset, SWA ones after all full.
    const int32_t cells = static_cast<int32_t>(t.tables.batch * t.tables.cols);
    for (OobRead e : t.reads) {
      if (e.slot < cells) {
        e.slot += static_cast<int32_t>(full_offset);
        r.reads.push_back(e);
      } else {
        e.slot += static_cast<int32_t>(full_offset) - cells;
        swa_reads.push_back(e);
      }
    }
    r.dropped += t.dropped;
    full_offset += cells;
    full.insert(full.end(), t.tables.page_table.begin(), t.tables.page_table.end());
    swa.insert(swa.end(), t.tables.swa_page_table.begin(), t.tables.swa_page_table.end());
  });
  for (OobRead e : swa_reads) {
    e.slot += static_cast<int32_t>(full_offset);
    r.reads.push_back(e);
  }
  r.outputs.page_tables = Tensor::from<int32_t>({static_cast<int64_t>(full.size())}, full);
  r.outputs.swa_page_tables = Tensor::from<int32_t>({static_cast<int64_t>(swa.size())}, swa);
  r.outputs.counters = Tensor::from<int64_t>({c.num_commands(), 2, 6}, counters);
  r.outputs.attention = Tensor::from<float>({static_cast<int64_t>(attention.size())}, attention);
  return r;
}

}  // namespace lockstep::device
