/// Registry entries of the kvcache family: `kv_trace` (KV memory model + page tables, reference vs device
/// kernel, leak invariant and read validation after every command) and `pool_sizing`; and the device
/// side of `kv_trace` (oracle/kvcache/kv_trace.h): the reference pool model with the device kernels injected.
#include "oracle/kvcache/kv_trace.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/core/faults.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "device/kvcache/pool_sizing.h"
#include "fuzz/kvcache/kv_trace.h"
#include "fuzz/kvcache/pool_sizing.h"
#include "oracle/kvcache/report_util.h"
#include "oracle/op.h"
#include "reference/kvcache/kv_trace.h"
#include "reference/kvcache/pool_sizing.h"

namespace lockstep::oracle {

KvTraceDeviceResult device_kv_trace(const KvTraceCase& c, const device::Options& dopt) {
  namespace rk = reference::kvcache;
  const int fault = dopt.fault;
  rk::PoolOptions options;
  options.decode_checks_both_pools = fault != device::kKvTraceFaultDecodePartialAllocLeak;
  device::Options table_opt = dopt;
  table_opt.fault = fault == device::kKvTraceFaultDecodePartialAllocLeak ? 0 : fault;
  device::Options attn_opt = dopt;
  attn_opt.fault = 0;
  KvTraceDeviceResult r;
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
      r.invariant_failures.push_back("step " + std::to_string(i) + ": " + e.what());
    }
    rk::append_counters(m.counters(), counters);
    const PageTableInput in = rk::batch_input(m);
    device::KvTableResult t = device::build_page_tables(in, rk::read_window(m), table_opt);
    // The attention kernel reads the KV cache through the device's tables (checked accessor).
    for (const RpaCase& a : rk::step_attention_cases(in, t.tables, rk::read_window(m), i)) {
      const device::RpaDeviceResult out = device::ragged_paged_attention(a, attn_opt);
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

namespace {

class KvTraceOp final : public TypedOp<KvTraceCase> {
 public:
  static constexpr const char* kName = "kv_trace";
  std::string name() const override { return kName; }
  std::string summary() const override {
    return "KV pools (full + SWA, mapping, eviction) driven by a command trace; page tables built, translated "
           "and read-checked by the device kernel after every command; leak invariant";
  }
  rc::Gen<KvTraceCase> typed_generator() const override { return fuzz::gen_kv_trace_case(); }

  std::vector<Region<KvTraceCase>> typed_regions() const override {
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

  Record run_one_typed(const KvTraceCase& c, const std::string& which, const RunOptions& options) const override {
    if (which == "reference") return to_record(reference::kvcache::kv_trace(c).outputs);
    if (which == "device") return to_record(device_kv_trace(c, device::Options{options.backend, device::fault_id(kName, options.fault)}).outputs);
    throw Error("--backend", which, "must be reference or device");
  }
  /// Device side: the bad table entries its read walk met and the attention kernel's out-of-range pages.
  SideResult run_side(const std::any& a, const std::string& which, const RunOptions& options) const override {
    if (which != "device") return TypedOp::run_side(a, which, options);
    auto r = device_kv_trace(std::any_cast<const KvTraceCase&>(a), device::Options{options.backend, device::fault_id(kName, options.fault)});
    SideResult s{to_record(r.outputs), std::move(r.reads), r.dropped};
    s.oob.insert(s.oob.end(), r.attention_oob.begin(), r.attention_oob.end());
    return s;
  }

  LockstepResult run_typed(const KvTraceCase& c, const RunOptions& options) const override {
    LockstepResult res;
    Report& rep = res.report = start_report(kName, c, options);
    const int fault = device::fault_id(kName, options.fault);
    device::require_backend(options.backend);
    reference::kvcache::KvTraceResult ref;
    KvTraceDeviceResult dev;
    if (!run_reporting_errors(rep, "invalid case: ", [&] { ref = reference::kvcache::kv_trace(c); })) return res;
    const KvTraceCase before = c;
    if (!run_reporting_errors(rep, "device: ", [&] { dev = device_kv_trace(c, device::Options{options.backend, fault}); })) return res;
    res.reference_outputs = to_record(ref.outputs);
    res.device_outputs = to_record(dev.outputs);
    check_inputs_unmodified(rep, before, c);
    compare_exact(rep, {{"page_tables", {&ref.outputs.page_tables, &dev.outputs.page_tables}},
                        {"swa_page_tables", {&ref.outputs.swa_page_tables, &dev.outputs.swa_page_tables}},
                        {"counters", {&ref.outputs.counters, &dev.outputs.counters}}});
    compare_output(rep, "attention", ref.outputs.attention, dev.outputs.attention,
                   tolerance_for(DType::f32, dev.max_kv_len));
    for (const std::string& p : ref.problems) rep.fail("reference model: " + p);
    for (const std::string& p : dev.invariant_failures) rep.fail("device side: " + p);
    rep.device_oob = dev.reads;
    rep.oob_dropped = dev.dropped;
    if (!dev.reads.empty()) {
      const OobRead& e = dev.reads[0];
      rep.fail(fmt::format("device read {} bad page-table entr{} (out of range or unallocated/evicted), first: "
                           "table slot {} = {} (valid 1..{})",
                           dev.reads.size(), dev.reads.size() == 1 ? "y" : "ies", e.slot, e.page, e.bound));
    }
    if (!dev.attention_oob.empty()) {
      const OobRead& e = dev.attention_oob[0];
      rep.fail(fmt::format("attention kernel read {} out-of-range page(s) through the device tables, first: step {} "
                           "page_indices[{}] = {} (cache has {} pages)",
                           dev.attention_oob.size(), e.seq, e.slot, e.page, e.bound));
    }
    rep.stats.emplace_back("commands", static_cast<double>(c.num_commands()));
    rep.stats.emplace_back("table_entries", static_cast<double>(ref.outputs.page_tables.numel()));
    return res;
  }
};

class PoolSizingOp final : public TypedOp<PoolSizingCase> {
 public:
  static constexpr const char* kName = "pool_sizing";
  std::string name() const override { return kName; }
  std::string summary() const override {
    return "hybrid SWA/full KV pool sizes from available memory, layer counts, bytes per token, ratio, page size";
  }
  rc::Gen<PoolSizingCase> typed_generator() const override { return fuzz::gen_pool_sizing_case(); }

  std::vector<Region<PoolSizingCase>> typed_regions() const override {
    using C = const PoolSizingCase&;
    return Regions<PoolSizingCase>()
        .values("model", {"dense", "moe"}, [](C c) { return c.num_experts > 0 ? "moe" : "dense"; })
        .values("ratio", {"default", "explicit"}, [](C c) { return c.ratio > 0 ? "explicit" : "default"; })
        .values("full_layers", {"0", "1+"}, [](C c) { return c.num_full_layers == 0 ? "0" : "1+"; })
        .values("page_size", {"1", "16", "32", "64"}, [](C c) { return std::to_string(c.page_size); })
        .values("budget", {"<16MiB", ">=16MiB"}, [](C c) { return c.available_bytes < (1 << 24) ? "<16MiB" : ">=16MiB"; })
        .build();
  }

  static PoolSizingOutputs reference_outputs(const PoolSizingCase& c) {
    const auto s = reference::kvcache::pool_sizing(c);
    PoolSizingOutputs o;
    o.tokens = Tensor::from<int64_t>({2}, {s.full_tokens, s.swa_tokens});
    return o;
  }

  Record run_one_typed(const PoolSizingCase& c, const std::string& which, const RunOptions& options) const override {
    if (which == "reference") return to_record(reference_outputs(c));
    if (which == "device") return to_record(device::pool_sizing(c, {options.backend, device::fault_id(kName, options.fault)}));
    throw Error("--backend", which, "must be reference or device");
  }

  LockstepResult run_typed(const PoolSizingCase& c, const RunOptions& options) const override {
    LockstepResult res;
    Report& rep = res.report = start_report(kName, c, options);
    const int fault = device::fault_id(kName, options.fault);
    device::require_backend(options.backend);
    PoolSizingOutputs ref, dev;
    try {
      ref = reference_outputs(c);
      dev = device::pool_sizing(c, {options.backend, fault});
    } catch (const Error& e) {
      rep.error = std::string("invalid case: ") + e.what();
      rep.fail(rep.error);
      return res;
    }
    res.reference_outputs = to_record(ref);
    res.device_outputs = to_record(dev);
    compare_exact(rep, {{"tokens", {&ref.tokens, &dev.tokens}}});
    return res;
  }
};

}  // namespace

std::unique_ptr<Op> make_kv_trace_op() { return std::make_unique<KvTraceOp>(); }
std::unique_ptr<Op> make_pool_sizing_op() { return std::make_unique<PoolSizingOp>(); }

}  // namespace lockstep::oracle
