/// Registry entry of spec_decode: two scheduler models (reference/spec/scheduler.h) run the same
/// command sequence in lockstep, one verifying with the reference (reference/spec/verify.h), one
/// with the device kernels (device/spec/spec_verify.h). After every command: the violations either
/// model reported, the invariants of both (spec §5.5, greedy equivalence, pool leak), and the first
/// divergence between them (verify arrays of the step, then request / batch / pool state) — each a
/// failure line naming the step, the request and the field. The run never stops on a violation.
#include <algorithm>

#include "core/error.h"
#include "device/core/faults.h"
#include "device/spec/spec_verify.h"
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
/// batches (Batch::fields), then the pool.
std::string state_diff(const SpecScheduler& ref, const SpecScheduler& dev) {
  for (std::string s : {first_element_diff("requests", "req", ref.reqs(), dev.reqs()),
                        first_element_diff("batches", "batch", ref.batches(), dev.batches())})
    if (!s.empty()) return s;
  if (ref.pool_counters().available != dev.pool_counters().available)
    return fmt::format("pool available: reference {}, device {}", ref.pool_counters().available,
                       dev.pool_counters().available);
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
      .build();
}


namespace {
SpecDecodeOutputs run_scheduler(const SpecDecodeCase& c, reference::spec::SpecVerifyFn verify) {
  validate(c);
  SpecScheduler s(c, std::move(verify));
  for (int64_t i = 0; i < c.num_commands(); ++i) s.apply(c.command(i), i);
  return s.outputs();
}
}  // namespace

SpecDecodeOutputs spec_decode_reference(const SpecDecodeCase& c) {
  return run_scheduler(c, [](const SpecVerifyInputs& in) { return reference::spec::spec_verify(in); });
}

SpecDecodeOutputs spec_decode_device(const SpecDecodeCase& c, const device::Options& options) {
  return run_scheduler(c, [options](const SpecVerifyInputs& in) { return device::spec_verify(in, options); });
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
  return res;
}

reference::spec::SpecVerifyFn spec_verifier(const std::string& which, const RunOptions& options) {
  if (which == "reference") return [](const SpecVerifyInputs& in) { return reference::spec::spec_verify(in); };
  if (which == "device") {
    const device::Options dopt{options.backend, device::fault_id(kName, options.fault)};
    return [dopt](const SpecVerifyInputs& in) { return device::spec_verify(in, dopt); };
  }
  throw Error("--backend", which, "must be reference or device");
}

SpecLockstep::SpecLockstep(const SpecDecodeCase& c, const RunOptions& options)
    : ref_(c, spec_verifier("reference", options)), dev_(c, spec_verifier("device", options)) {
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
  if (cmd.kind == SpecCommandKind::decode && ref_.last_bs() > 0 && ref_.last_bs() == dev_.last_bs())
    d = verify_diff(ref_.last_verify(), dev_.last_verify());
  d = d.empty() ? state_diff(ref_, dev_) : "verify " + d;
  if (!d.empty()) {
    diverged_ = true;
    out.push_back(fmt::format("lockstep: step {} {}: {}", i, desc, d));
  }
  return out;
}

}  // namespace lockstep::oracle
