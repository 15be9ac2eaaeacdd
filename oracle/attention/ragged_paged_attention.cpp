/// Registry entry of ragged_paged_attention: reference (reference/attention), device kernel
/// (device/attention), generator (fuzz/attention) and the comparison rule.
#include <algorithm>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/core/faults.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "oracle/op.h"
#include "reference/attention/ragged_paged_attention.h"

namespace lockstep::oracle {
namespace {

constexpr const char* kName = "ragged_paged_attention";

class RaggedPagedAttentionOp final : public TypedOp<RpaCase> {
 public:
  std::string name() const override { return kName; }
  std::string summary() const override {
    return "ragged paged attention (GQA, paged KV, cached prefix, causal/dense/segment masks, window, soft cap)";
  }
  rc::Gen<RpaCase> typed_generator() const override { return fuzz::gen_rpa_case(); }

  Record run_one_typed(const RpaCase& c, const std::string& which, const RunOptions& options) const override {
    return run_side_of(c, which, options).outputs;
  }
  SideResult run_side(const std::any& c, const std::string& which, const RunOptions& options) const override {
    return run_side_of(std::any_cast<const RpaCase&>(c), which, options);
  }
  static SideResult run_side_of(const RpaCase& c, const std::string& which, const RunOptions& options) {
    if (which == "reference") {
      auto r = reference::ragged_paged_attention(c);
      return {to_record(r.outputs), std::move(r.oob), 0};
    }
    if (which == "device") {
      device::DeviceOptions dopt{options.backend, device::fault_id(kName, options.fault)};
      auto r = device::ragged_paged_attention(c, dopt);
      return {to_record(r.outputs), std::move(r.oob), r.oob_dropped};
    }
    throw Error("--backend", which, "must be reference or device");
  }

  LockstepResult run_typed(const RpaCase& c, const RunOptions& options) const override {
    LockstepResult res;
    Report& rep = res.report;
    rep = start_report(kName, c, options);
    const device::DeviceOptions dopt{options.backend, device::fault_id(kName, options.fault)};
    device::require_backend(options.backend);

    reference::RpaResult ref;
    device::RpaDeviceResult dev;
    if (!run_reporting_errors(rep, "invalid case: ", [&] { ref = reference::ragged_paged_attention(c); })) return res;
    const RpaCase before = c;
    if (!run_reporting_errors(rep, "device: ", [&] { dev = device::ragged_paged_attention(c, dopt); })) return res;
    res.reference_outputs = to_record(ref.outputs);
    res.device_outputs = to_record(dev.outputs);

    // 1. inputs unmodified
    check_inputs_unmodified(rep, before, c);
    // 2-3. outputs
    AttentionMagnitudes mag{1, c.head_dim, ref.logit_bound, ref.value_bound, c.soft_cap};
    for (int64_t i = 0; i < c.num_seqs; ++i) mag.kv_len = std::max<int64_t>(mag.kv_len, c.kv_len(i));
    compare_output(rep, "out", ref.outputs.out, dev.outputs.out, attention_tolerance(c.dtype, mag));
    if (c.dtype != DType::f32) {  // bf16/f16: the output cast rounds to nearest-even, exactly
      device::DeviceOptions d32 = dopt;
      d32.f32_output = true;
      device::RpaDeviceResult dev32;
      if (!run_reporting_errors(rep, "device (f32 output): ", [&] { dev32 = device::ragged_paged_attention(c, d32); }))
        return res;
      check_output_rounding(rep, "out", dev32.outputs.out, dev.outputs.out);
    }
    compare_output(rep, "kv_cache", ref.outputs.kv_cache, dev.outputs.kv_cache, Tolerance{});
    // OOB page reads: every one is a failure (a crash or silent garbage in production).
    rep.device_oob = dev.oob;
    rep.reference_oob = ref.oob;
    rep.oob_dropped = dev.oob_dropped;
    if (!dev.oob.empty()) {
      rep.fail(fmt::format("device read {} out-of-range page index slot(s), first: seq {} page_indices[{}] = {}",
                           dev.oob.size(), dev.oob[0].seq, dev.oob[0].slot, dev.oob[0].page));
    }
    if (!ref.oob.empty() && dev.oob.empty()) {
      rep.fail(fmt::format("case has {} out-of-range page index slot(s) inside the read window, the device "
                           "reported none",
                           ref.oob.size()));
    }
    int64_t tokens = c.num_seqs > 0 ? c.cu_q_lens.get_int(c.num_seqs) : 0;
    rep.stats.emplace_back("tokens", static_cast<double>(tokens));
    return res;
  }
};

}  // namespace

std::unique_ptr<Op> make_ragged_paged_attention_op() { return std::make_unique<RaggedPagedAttentionOp>(); }

}  // namespace lockstep::oracle
