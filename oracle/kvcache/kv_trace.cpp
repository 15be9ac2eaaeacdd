/// `kv_trace` (KV memory model + page tables, reference vs device kernel, leak invariant and read validation
/// after every command): its device side (the reference pool model with the device kernels injected) and
/// its oracle hooks (oracle/kvcache/kv_trace.h).
#include "oracle/kvcache/kv_trace.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "core/oob_reads.h"
#include "reference/kvcache/kv_trace.h"

namespace lockstep::oracle {

KvTraceOutputs device_kv_trace(const KvTraceCase& c, const device::Options& dopt) {
  namespace rk = reference::kvcache;
  const int fault = dopt.fault;
  rk::PoolOptions options;
  options.decode_checks_both_pools = fault != device::kKvTraceFaultDecodePartialAllocLeak;
  device::Options table_opt = dopt;
  table_opt.fault = fault == device::kKvTraceFaultDecodePartialAllocLeak ? 0 : fault;
  device::Options attn_opt = dopt;
  attn_opt.fault = 0;
  KvTraceOutputs r;
  std::vector<OobRead> reads, attention_oob;
  std::vector<std::string> invariant_failures;
  r.max_kv_len = 1;
  std::vector<int32_t> full, swa;
  std::vector<int64_t> counters;
  int64_t full_offset = 0;
  std::vector<OobRead> swa_reads;
  std::vector<float> attention;
  // The reference pool model replays the commands; the device kernels are the injected step.
  rk::replay_trace(c, options, [&](int64_t i, const rk::KvMemory& m) {
    try {
      m.check_invariant();
    } catch (const Error& e) {
      invariant_failures.push_back("step " + std::to_string(i) + ": " + e.what());
    }
    rk::append_counters(m.counters(), counters);
    const PageTableInput in = rk::batch_input(m);
    device::KvTableResult t = device::build_page_tables(in, rk::read_window(m), table_opt);
    // The attention kernel reads the KV cache through the device's tables (checked accessor).
    for (const RpaCase& a : rk::step_attention_cases(in, t.tables, rk::read_window(m), i)) {
      const RpaOutputs out = device::ragged_paged_attention(a, attn_opt);
      for (OobRead o : oob_list(out.oob_reads)) {
        o.seq = static_cast<int32_t>(i);
        attention_oob.push_back(o);
      }
      const auto v = out.out.span<float>();
      attention.insert(attention.end(), v.begin(), v.end());
    }
    for (int32_t L : in.cache_seqlens) r.max_kv_len = std::max<int64_t>(r.max_kv_len, L);
    // Re-base slots into the concatenated outputs: full entries at full_offset, SWA ones after all full.
    const int32_t cells = static_cast<int32_t>(t.tables.batch * t.tables.cols);
    for (OobRead e : t.reads) {
      if (e.slot < cells) {
        e.slot += static_cast<int32_t>(full_offset);
        reads.push_back(e);
      } else {
        e.slot += static_cast<int32_t>(full_offset) - cells;
        swa_reads.push_back(e);
      }
    }
    r.oob_dropped += t.dropped;
    full_offset += cells;
    full.insert(full.end(), t.tables.page_table.begin(), t.tables.page_table.end());
    swa.insert(swa.end(), t.tables.swa_page_table.begin(), t.tables.swa_page_table.end());
  });
  for (OobRead e : swa_reads) {
    e.slot += static_cast<int32_t>(full_offset);
    reads.push_back(e);
  }
  r.page_tables = Tensor::from<int32_t>({static_cast<int64_t>(full.size())}, full);
  r.swa_page_tables = Tensor::from<int32_t>({static_cast<int64_t>(swa.size())}, swa);
  r.counters = Tensor::from<int64_t>({c.num_commands(), 2, 6}, counters);
  r.attention = Tensor::from<float>({static_cast<int64_t>(attention.size())}, attention);
  for (const std::string& f : invariant_failures) r.invariant_failures += (r.invariant_failures.empty() ? "" : "\n") + f;
  r.oob_reads = oob_tensor(reads);
  r.attention_oob_reads = oob_tensor(attention_oob);
  return r;
}

std::vector<Region<KvTraceCase>> kv_trace_regions() {
  using C = const KvTraceCase&;
  auto has = [](KvCommand kind) {
    return [kind](C c) {
      for (int64_t i = 0; i < c.num_commands(); ++i)
        if (c.commands.get_int(i * 3) == static_cast<int>(kind)) return true;
      return false;
    };
  };
  return Regions<KvTraceCase>()
      .values("page_size", {"1", "2", "4", "8", "16"}, [](C c) { return std::to_string(c.page_size); })
      .values("window", {"1-3", "4-33", "64"}, [](C c) { return c.window <= 3 ? "1-3" : c.window <= 33 ? "4-33" : "64"; })
      .values("swa_pool", {"smaller_than_full", "equal_to_full"},
              [](C c) { return c.swa_size < c.full_size ? "smaller_than_full" : "equal_to_full"; })
      .when("command=add", has(KvCommand::add))
      .when("command=extend", has(KvCommand::extend))
      .when("command=decode", has(KvCommand::decode))
      .when("command=finish", has(KvCommand::finish))
      .when("command=evict_swa", has(KvCommand::evict_swa))
      .when("edge=empty_trace", [](C c) { return c.num_commands() == 0; })
      .when_run("run=page_tables_built", [](C, const Report& r) { return report_stat(r, "table_entries") > 0; })
      .build();
}

Tolerance kv_trace_tolerance(const KvTraceCase&, const KvTraceOutputs&, const KvTraceOutputs& dev) {
  return tolerance_for(DType::f32, std::max<int64_t>(1, dev.max_kv_len));
}

void kv_trace_stats(const KvTraceCase& c, const KvTraceOutputs& ref, const KvTraceOutputs&, Report& rep) {
  rep.stats.emplace_back("commands", static_cast<double>(c.num_commands()));
  rep.stats.emplace_back("table_entries", static_cast<double>(ref.page_tables.numel()));
}

}  // namespace lockstep::oracle
