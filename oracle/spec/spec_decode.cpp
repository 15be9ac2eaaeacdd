/// Registry entry of spec_decode: two scheduler models (reference/spec/scheduler.h) run the same
/// command sequence in lockstep, one verifying with the reference (reference/spec/verify.h), one
/// with the device kernels (device/spec/spec_verify.h). After every command: the violations either
/// model reported, the invariants of both (spec §5.5, greedy equivalence, pool leak), and the first
/// divergence between them (verify arrays of the step, then request / batch / waiting queue / pool state) — each a
/// failure line naming the step, the request and the field. The run never stops on a violation.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "device/core/faults.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "device/spec/spec_verify.h"
#include "device/spec/spec_verify_kernel.h"
#include "fuzz/spec/spec_decode.h"
#include "oracle/spec/spec_decode.h"
#include "reference/spec/verify.h"

namespace lockstep::oracle {
namespace {

constexpr const char* kName = "spec_decode";
constexpr size_t kMaxFailureLines = 24;

using reference::spec::SpecScheduler;

/// First difference between two lists of described states (requests, batches): the count, then
/// "{each} {i} " + first_state_difference of the first differing element ("" when equal).
template <class T>
std::string first_element_diff(const char* what, const char* each, const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return fmt::format("{}: reference {}, device {}", what, a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (std::string d = first_state_difference(a[i], b[i]); !d.empty()) return fmt::format("{} {} {}", each, i, d);
  return "";
}

/// First difference between the step's verify results ("" when equal): SpecVerifyResult::fields.
std::string verify_diff(const SpecVerifyResult& r, const SpecVerifyResult& d) { return first_state_difference(r, d); }

/// First difference between the two scheduler states ("" when equal): requests (Req::fields), then
/// batches (Batch::fields), then the waiting queue (its order decides the next prefill), then the pools.
std::string state_diff(const SpecScheduler& ref, const SpecScheduler& dev) {
  for (std::string s : {first_element_diff("requests", "req", ref.reqs(), dev.reqs()),
                        first_element_diff("batches", "batch", ref.batches(), dev.batches())})
    if (!s.empty()) return s;
  if (ref.waiting() != dev.waiting())
    return fmt::format("waiting queue: reference [{}], device [{}]", fmt::join(ref.waiting(), ", "),
                       fmt::join(dev.waiting(), ", "));
  const auto rp = ref.pools(), dp = dev.pools();
  for (size_t i = 0; i < rp.size(); ++i)
    if (rp[i].available != dp[i].available)
      return fmt::format("{} pool available: reference {}, device {}", rp[i].pool, rp[i].available, dp[i].available);
  return "";
}

}  // namespace

std::vector<Region<SpecDecodeCase>> spec_decode_regions() {
  using C = const SpecDecodeCase&;
  auto has = [](SpecCommandKind kind) {
    return [kind](C c) {
      for (int64_t i = 0; i < c.num_commands(); ++i)
        if (c.command(i).kind == kind) return true;
      return false;
    };
  };
  auto has_pattern = [](SpecAcceptPattern p) {
    return [p](C c) {
      for (int64_t i = 0; i < c.num_commands(); ++i) {
        const SpecCommand cmd = c.command(i);
        if (cmd.kind == SpecCommandKind::decode && cmd.b == static_cast<int64_t>(p)) return true;
      }
      return false;
    };
  };
  auto stat_positive = [](const char* name) {
    return [name](C, const Report& r) { return report_stat(r, name) > 0; };
  };
  return Regions<SpecDecodeCase>()
      .values("path", {"plain", "v1", "v2"}, [](C c) { return std::string(enum_name(c.path)); })
      .values("draft_tokens", {"1", "2-5", "6-8"},
              [](C c) { return c.num_draft_tokens == 1 ? "1" : c.num_draft_tokens <= 5 ? "2-5" : "6-8"; })
      .values("eos", {"none", "set"}, [](C c) { return c.eos_token_id < 0 ? "none" : "set"; })
      .values("pool", {"small", "4096"}, [](C c) { return c.pool_size < 4096 ? "small" : "4096"; })
      .values("swa_pool", {"smaller_than_full", "equal_to_full"},
              [](C c) { return c.swa_pool_size < c.pool_size ? "smaller_than_full" : "equal_to_full"; })
      .values("page_size", {"1", "2-4", "8-16"},
              [](C c) { return c.page_size == 1 ? "1" : c.page_size <= 4 ? "2-4" : "8-16"; })
      .values("window", {"1-8", "9-64", "none"},
              [](C c) { return c.sliding_window <= 8 ? "1-8" : c.sliding_window <= 64 ? "9-64" : "none"; })
      .when("command=merge", has(SpecCommandKind::merge))
      .when("command=filter", has(SpecCommandKind::filter))
      .when("command=abort", has(SpecCommandKind::abort))
      .when("command=retract", has(SpecCommandKind::retract))
      .when("accept_pattern=mixed", has_pattern(SpecAcceptPattern::mixed))
      .when("accept_pattern=zero_all", has_pattern(SpecAcceptPattern::zero_all))
      .when("accept_pattern=full_all", has_pattern(SpecAcceptPattern::full_all))
      .when("accept_pattern=zero_one", has_pattern(SpecAcceptPattern::zero_one))
      .when("edge=no_commands", [](C c) { return c.num_commands() == 0; })
      .when_run("run=verify", stat_positive("verify_count"))
      .when_run("run=zero_accept_verify", stat_positive("zero_accept_verifies"))
      .when_run("run=zero_accept_step", stat_positive("zero_accept_steps"))
      .when_run("run=length_over_stop", stat_positive("length_over_stop"))
      .when_run("run=oom_skip", stat_positive("oom_skips"))
      .when_run("run=swa_eviction", stat_positive("swa_evictions"))
      .when_run("run=draft_read", stat_positive("draft_calls"))
      .build();
}


namespace {
SpecDecodeOutputs run_scheduler(const SpecDecodeCase& c, reference::spec::SpecSide side) {
  validate(c);
  SpecScheduler s(c, std::move(side));
  for (int64_t i = 0; i < c.num_commands(); ++i) s.apply(c.command(i), i);
  return s.outputs();
}
}  // namespace

SpecDecodeOutputs spec_decode_reference(const SpecDecodeCase& c) { return run_scheduler(c, spec_side_reference()); }

SpecDecodeOutputs spec_decode_device(const SpecDecodeCase& c, const device::Options& options) {
  return run_scheduler(c, spec_side_device(options));
}

LockstepResult spec_decode_lockstep(const SpecDecodeCase& c, const RunOptions& options) {
  LockstepResult res;
  Report& rep = res.report;
  rep.op = kName;
  rep.case_string = canonical_string(kName, c);
  rep.backend = enum_name(options.backend);
  rep.fault = options.fault;
  try {
    validate(c);
  } catch (const Error& e) {
    rep.error = std::string("invalid case: ") + e.what();
    rep.fail(rep.error);
    return res;
  }
  const SpecDecodeCase before = c;
  SpecLockstep ls(c, options);
  size_t dropped = 0;
  try {
    for (int64_t i = 0; i < c.num_commands(); ++i) {
      for (const std::string& line : ls.step(c.command(i), i)) {
        if (rep.failures.size() < kMaxFailureLines) rep.fail(line);
        else ++dropped;
      }
    }
  } catch (const Error& e) {
    rep.error = std::string("device: ") + e.what();
    rep.fail(rep.error);
    return res;
  }
  if (dropped > 0) rep.failures.push_back(fmt::format("({} more failure lines)", dropped));
  const SpecDecodeOutputs ro = ls.reference().outputs(), dvo = ls.device().outputs();
  res.reference_outputs = to_record(ro);
  res.device_outputs = to_record(dvo);
  check_inputs_unmodified(rep, before, c);
  for_each_field(ro, [&](const char* name, auto& f) {
    using F = std::decay_t<decltype(f)>;
    if constexpr (std::is_same_v<F, Tensor>) {
      const auto* other = res.device_outputs.find(name);
      compare_output(rep, name, f, std::get<Tensor>(*other), Tolerance{});
    }
  });
  if (!rep.passed && c.num_commands() <= 32) {  // make a shrunk failure readable on its own
    std::string cmds;
    for (int64_t i = 0; i < c.num_commands(); ++i) {
      cmds += i ? " | " : "";
      cmds += c.command(i).describe();
    }
    rep.failures.push_back(fmt::format("commands ({}): {}", c.num_commands(), cmds));
  }
  const reference::spec::SpecStats& st = ls.reference().stats();
  const reference::spec::SpecStats& dst = ls.device().stats();
  rep.stats.emplace_back("commands", static_cast<double>(c.num_commands()));
  rep.stats.emplace_back("decode_steps", static_cast<double>(st.decode_steps));
  rep.stats.emplace_back("verify_count", static_cast<double>(st.verifies));
  rep.stats.emplace_back("accepted_drafts", static_cast<double>(st.accepted_drafts));
  if (st.verifies > 0)
    rep.stats.emplace_back("mean_accept_length",
                           static_cast<double>(st.accepted_drafts + st.verifies) / static_cast<double>(st.verifies));
  rep.stats.emplace_back("zero_accept_verifies", static_cast<double>(st.zero_accept_verifies));
  rep.stats.emplace_back("zero_accept_steps", static_cast<double>(st.zero_accept_steps));
  rep.stats.emplace_back("length_over_stop", static_cast<double>(st.length_over_stop));
  rep.stats.emplace_back("oom_skips", static_cast<double>(st.oom_skips));
  // Joined-model stats (issue 15): the device side's next to the reference's (the clean run) where a fault
  // can move them.
  if (dst.verifies > 0)
    rep.stats.emplace_back("mean_accept_length_device", static_cast<double>(dst.accepted_drafts + dst.verifies) /
                                                            static_cast<double>(dst.verifies));
  rep.stats.emplace_back("device_zero_accept_steps", static_cast<double>(dst.zero_accept_steps));
  rep.stats.emplace_back("draft_calls", static_cast<double>(st.draft_calls));
  rep.stats.emplace_back("swa_evictions", static_cast<double>(st.swa_evictions));
  rep.stats.emplace_back("swa_evicted_tokens", static_cast<double>(st.swa_evicted_tokens));
  rep.stats.emplace_back("oob_reads", static_cast<double>(st.oob_reads));
  rep.stats.emplace_back("device_oob_reads", static_cast<double>(dst.oob_reads));
  rep.stats.emplace_back("full_pool_high_water", static_cast<double>(st.full_high_water));
  rep.stats.emplace_back("swa_pool_high_water", static_cast<double>(st.swa_high_water));
  rep.stats.emplace_back("device_full_pool_high_water", static_cast<double>(dst.full_high_water));
  rep.stats.emplace_back("device_swa_pool_high_water", static_cast<double>(dst.swa_high_water));
  return res;
}

reference::spec::SpecSide spec_side_reference() {
  reference::spec::SpecSide side;
  side.verify = [](const SpecVerifyInputs& in) { return reference::spec::spec_verify(in); };
  side.tables = reference::spec::reference_tables;
  return side;
}

reference::spec::SpecSide spec_side_device(const device::Options& options) {
  const int fault = options.fault;
  reference::spec::SpecSide side;
  device::Options verify_opt = options;
  verify_opt.fault = fault <= device::kSpecFaultBonusNotCounted ? fault : 0;
  side.verify = [verify_opt](const SpecVerifyInputs& in) { return device::spec_verify(in, verify_opt); };
  // Every attention call's tables come from the page-table kernel with its checked read walk. The draft's
  // calls go through the pool view: a view that does not swap the backend's SWA state is the kernel's
  // swa_state_not_swapped mode (and PR #5's clamp on top of it).
  int draft_table_fault = 0;
  if (fault == device::kSpecFaultDraftSwaStateNotSwapped) draft_table_fault = device::kKvFaultSwaStateNotSwapped;
  if (fault == device::kSpecFaultDraftClampPageIndex) draft_table_fault = device::kKvFaultClampPageIndex;
  side.tables = [options, draft_table_fault](const PageTableInput& in, const ReadWindow& w,
                                             reference::spec::AttnCall call) {
    device::Options topt = options;
    topt.fault = call == reference::spec::AttnCall::draft ? draft_table_fault : 0;
    device::KvTableResult r = device::build_page_tables(in, w, topt);
    reference::spec::TableCheck t;
    t.tables = std::move(r.tables);
    t.oob_reads = static_cast<int64_t>(r.reads.size()) + r.dropped;
    const int64_t cells = t.tables.batch * t.tables.cols;
    for (const OobRead& o : r.reads) {
      const bool swa = o.slot >= cells;
      const int64_t cell = swa ? o.slot - cells : o.slot;
      t.bad.push_back(fmt::format("{}[{}, {}] = {} (valid 1..{})", swa ? "swa" : "full", cell / t.tables.cols,
                                  cell % t.tables.cols, o.page, o.bound));
    }
    if (r.dropped > 0) t.bad.push_back(fmt::format("({} more bad entries dropped by the read log)", r.dropped));
    return t;
  };
  side.draft_prepare_allocates = fault == device::kSpecFaultDraftPrepareDoubleAllocates;
  side.overallocation_swa_leak = fault == device::kSpecFaultOverallocationSwaLeak;
  return side;
}

reference::spec::SpecSide spec_side(const std::string& which, const RunOptions& options) {
  if (which == "reference") return spec_side_reference();
  if (which == "device") return spec_side_device(device::Options{options.backend, device::fault_id(kName, options.fault)});
  throw Error("--backend", which, "must be reference or device");
}

SpecLockstep::SpecLockstep(const SpecDecodeCase& c, const RunOptions& options)
    : ref_(c, spec_side("reference", options)), dev_(c, spec_side("device", options)) {
  device::require_backend(options.backend);
}

std::vector<std::string> SpecLockstep::step(const SpecCommand& cmd, int64_t i) {
  std::vector<std::string> out;
  const std::string desc = cmd.describe();
  for (const std::string& s : ref_.apply(cmd, i)) out.push_back("reference: " + s);
  for (const std::string& s : dev_.apply(cmd, i)) out.push_back("device: " + s);
  for (const std::string& s : ref_.check_invariants(i, desc)) out.push_back("reference: " + s);
  for (const std::string& s : dev_.check_invariants(i, desc)) out.push_back("device: " + s);
  if (diverged_) return out;
  std::string d;
  if (cmd.kind == SpecCommandKind::decode && ref_.last_bs() > 0 && ref_.last_bs() == dev_.last_bs()) {
    // The draft's tokens first (what its attention read decides them), then the verify arrays.
    const auto& rc = ref_.last_candidates();
    const auto& dc = dev_.last_candidates();
    for (size_t k = 0; k < rc.size() && k < dc.size() && d.empty(); ++k)
      if (rc[k] != dc[k])
        d = fmt::format("draft candidates[{}] (request slot {}, position {}): reference {}, device {} (the draft read "
                        "different KV)",
                        k, k / ref_.params().num_draft_tokens, k % ref_.params().num_draft_tokens, rc[k], dc[k]);
    if (d.empty()) d = verify_diff(ref_.last_verify(), dev_.last_verify());
  }
  d = d.empty() ? state_diff(ref_, dev_) : "verify " + d;
  if (!d.empty()) {
    diverged_ = true;
    out.push_back(fmt::format("lockstep: step {} {}: {}", i, desc, d));
  }
  return out;
}

}  // namespace lockstep::oracle
