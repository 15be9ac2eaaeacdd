// lockstep: run reference and device kernels in lockstep, fuzz them, replay their failures.
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/h5io.h"
#include "oracle/impl_op.h"
#include "oracle/op.h"
#include "oracle/replay.h"
#include "oracle/summary.h"
#include "oracle/zoo.h"
#include "oracle/bisect/bisect_command.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

// SIGINT and SIGTERM: the first one asks the command to stop (a campaign finishes the cases in flight
// and prints its summary; the exit code is then 130); a second one kills the process.
std::atomic<bool> g_interrupted{false};
void on_stop_signal(int sig) {
  if (g_interrupted.exchange(true)) {
    h5::remove_temporary_file_now();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}
bool install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // The launcher (cli/launcher.cpp) started us with both blocked: a signal that came during dynamic
  // loading is pending and reaches the handler now.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &stop, nullptr);
  return true;
}
// Installed before main(), ahead of every other static initialiser of the executable (the CUDA fat-binary
// registrations, the op registry), so that start-up does not die on a signal either.
__attribute__((constructor(101))) void install_stop_handlers_at_load() { install_stop_handlers(); }
constexpr int kExitInterrupted = 130;

// ---- command-line values: clear errors instead of silent wrapping --------------------------------

/// A decimal integer in [lo, hi] (no sign for unsigned, no exponent, no fraction).
template <class T>
CLI::Validator integer_in(T lo, T hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        T v{};
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc() && end == s.data() + s.size() && v >= lo && v <= hi) return "";
        return fmt::format("{} is not an integer in [{}, {}]", escape_control(s), lo, hi);
      },
      "", "");
}

/// A finite number >= 0.
CLI::Validator finite_non_negative() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc() && end == s.data() + s.size() && std::isfinite(v) && v >= 0) return "";
        return fmt::format("{} is not a finite number >= 0", escape_control(s));
      },
      "", "");
}

Backend parse_backend(const std::string& s) { return parse_enum<Backend>(s, "--backend"); }

/// `lockstep list --abi OP`: the arguments a plugin receives and returns for OP (include/lockstep/impl.h),
/// derived from the op's fields() — with the dtypes and ranks its generator produced in 200 cases (seed 1).
int cmd_abi(const std::string& name) {
  const Op& op = find_op(name);
  require(op.pluggable(), "--abi", name, "is a stateful op (its sides step together): no plugin ABI");
  std::map<std::string, std::pair<std::set<std::string>, std::set<size_t>>> seen_in, seen_out;
  for (int64_t i = 0; i < 200; ++i) {
    const std::any c = campaign_case(op, 1, i).value();
    for (const auto& [n, v] : op.case_to_record(c).fields)
      if (const auto* t = std::get_if<Tensor>(&v); t && t->numel() > 0) {
        seen_in[n].first.insert(dtype_name(t->dtype()));
        seen_in[n].second.insert(t->rank());
      }
    if (i >= 50) continue;  // outputs: the reference on the first 50
    try {
      for (const auto& [n, v] : op.run_one(c, "reference", {}).fields)
        if (const auto* t = std::get_if<Tensor>(&v); t && t->numel() > 0) {
          seen_out[n].first.insert(dtype_name(t->dtype()));
          seen_out[n].second.insert(t->rank());
        }
    } catch (const Error&) {  // a case the reference rejects has no outputs
    }
  }
  auto seen = [](const auto& m, const std::string& n) -> std::string {
    auto it = m.find(n);
    if (it == m.end()) return "  (empty in every generated case)";
    std::string d, r;
    for (const auto& x : it->second.first) d += (d.empty() ? "" : ",") + x;
    for (size_t x : it->second.second) r += (r.empty() ? "" : ",") + std::to_string(x);
    return fmt::format("  dtypes {{{}}} ranks {{{}}}", d, r);
  };
  fmt::print("op {}: lockstep_impl_run(\"{}\", in, out, ...), ABI version {}\n", name, name, LOCKSTEP_IMPL_ABI_VERSION);
  fmt::print("in (every case field, in this order; capabilities may constrain these):\n");
  const std::vector<FieldInfo> inputs = op.case_fields();
  for (const FieldInfo& f : inputs) {
    if (f.kind == "tensor") {
      fmt::print("  {:<24} TENSOR{}\n", f.name, seen(seen_in, f.name));
    } else if (f.kind == "enum" || f.kind == "string") {
      std::string vals;
      for (const auto& v : f.enum_values) vals += (vals.empty() ? "" : ",") + v;
      fmt::print("  {:<24} STRING{}\n", f.name, vals.empty() ? "" : " in {" + vals + "}");
    } else if (f.kind == "real") {
      fmt::print("  {:<24} SCALAR F64\n", f.name);
    } else {
      fmt::print("  {:<24} SCALAR I64{}\n", f.name,
                 f.has_range ? fmt::format(" in [{}, {}]", f.range.lo, f.range.hi) : "");
    }
  }
  fmt::print("out (allocated by lockstep with the reference's shape and dtype; the plugin fills them):\n");
  for (const FieldInfo& f : op.output_fields()) {
    const std::string what = f.rule.kind == Rule::info          ? "not asked for: the reference's value (info)"
                             : f.rule.kind == Rule::oob_reads   ? "not asked for: none (out-of-range-read log)"
                             : f.rule.kind == Rule::oob_dropped ? "not asked for: 0"
                             : f.kind == "tensor"               ? "TENSOR" + seen(seen_out, f.name)
                             : f.kind == "real"                 ? "SCALAR F64"
                             : f.kind == "int"                  ? "SCALAR I64"
                                                                : "not asked for: the reference's value";
    const bool in_place = f.kind == "tensor" && lockstep::oracle::detail::impl_produces(f.rule) &&
                          std::any_of(inputs.begin(), inputs.end(), [&](const FieldInfo& i) { return i.name == f.name; });
    fmt::print("  {:<24} {}{}{}\n", f.name, what,
               f.rule.kind == Rule::tolerance ? "  (compared within the op's tolerance)" : "",
               in_place ? "  (starts as a copy of input " + f.name + " when dtype and shape match: update in place)"
                        : "");
  }
  return 0;
}

/// --impl-timeout, --impl-startup-timeout, --impl-in-process (fuzz, run, replay, list): how long a Python
/// worker (oracle/impl_worker.h) or an isolated plugin call may take, and the plugins' isolation.
ImplOptions g_impl_options;

/// `lockstep list --impl lib.so`: the plugin's name, memory space, ops and capabilities (it loads and checks).
int cmd_list_impl(const std::string& path) {
  const auto impl = Impl::load(path, g_impl_options);
  if (impl->transport() == Impl::Transport::python)
    fmt::print("impl {} ({}), Python worker\n", impl->name(), impl->path());
  else
    fmt::print("impl {} ({}), ABI version {}, memory {}\n", impl->name(), impl->path(), LOCKSTEP_IMPL_ABI_VERSION,
               impl->memory() == device::ImplMemory::cuda ? "cuda" : "host");
  for (const ImplOpSupport& s : impl->ops()) fmt::print("  {:<24} capabilities: {}\n", s.op, s.caps_text());
  return 0;
}

int cmd_list(bool json) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& op : registry()) {
    nlohmann::ordered_json e{{"op", op->name()}, {"summary", op->summary()}, {"faults", nlohmann::ordered_json::array()}};
    for (const auto& f : device::all_faults())
      if (f.op == op->name()) e["faults"].push_back({{"name", f.name}, {"description", f.description}});
    j.push_back(e);
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  for (const auto& e : j) {
    fmt::print("{}\n    {}\n", e["op"].get<std::string>(), e["summary"].get<std::string>());
    for (const auto& f : e["faults"])
      fmt::print("    fault {:<28} {}\n", f["name"].get<std::string>(), f["description"].get<std::string>());
  }
  std::string why;
  const bool cuda = device::cuda_available(&why);
  fmt::print("backends: cpu, staged{}\n", cuda ? ", cuda" : fmt::format(" (cuda unavailable: {})", why));
  return 0;
}

struct FuzzArgs {
  std::vector<std::string> ops;
  std::string impl;  ///< --impl: path of an external implementation (include/lockstep/impl.h)
  int64_t cases = 1000;
  uint64_t seed = 1;
  int64_t first_case = 0;
  std::string backend = "cpu";
  std::string fault;
  int threads = 2;
  std::string dump_dir = "lockstep-dumps";
  double time_limit = 0;
  int shrink = 400;
  std::string shard;  ///< "K/N" ("" = the whole range)
  bool coverage = false;
};

std::vector<const Op*> selected_ops(const std::vector<std::string>& names) {
  std::vector<const Op*> ops;
  if (names.empty()) {
    for (const auto& op : registry()) ops.push_back(op.get());
  } else {
    for (const auto& n : names) ops.push_back(&find_op(n));
  }
  return ops;
}

CampaignOptions campaign_options(const FuzzArgs& a, Backend backend) {
  CampaignOptions o;
  o.run = {backend, a.fault};
  o.seed = a.seed;
  o.first_case = a.first_case;
  o.cases = a.cases;
  if (!a.shard.empty()) o.shard = parse_shard(a.shard);
  o.threads = a.threads;
  o.dump_dir = a.dump_dir;
  o.time_limit_s = a.time_limit;
  o.shrink_evaluations = a.shrink;
  o.interrupted = &g_interrupted;
  return o;
}

/// On a terminal: one updating stderr line per campaign with cases/s and an ETA (from the case count or
/// the time limit, whichever comes first). Returns an empty function when stderr is not a terminal.
std::function<void(int64_t, int64_t)> progress_line(const std::string& label, int64_t total, double time_limit) {
  if (!isatty(fileno(stderr))) return {};
  const auto t0 = std::chrono::steady_clock::now();
  auto last = std::make_shared<double>(-1.0);
  return [=](int64_t done, int64_t fails) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (t - *last < 0.1 && done < total) return;  // at most ten updates a second
    *last = t;
    const double rate = t > 0 ? done / t : 0;
    double eta = rate > 0 ? (total - done) / rate : -1;
    if (time_limit > 0) eta = eta < 0 ? time_limit - t : std::min(eta, time_limit - t);
    fmt::print(stderr, "\r{}: {}/{} cases, {} failing, {:.0f} cases/s, ETA {}\033[K", label, done, total, fails, rate,
               eta < 0 ? std::string("?") : fmt::format("{:.0f} s", std::max(0.0, eta)));
  };
}

void clear_progress_line() {
  if (isatty(fileno(stderr))) fmt::print(stderr, "\r\033[K");
}

/// Prints the campaigns' summaries (text or JSON) and returns the exit code: with a fault, 0 iff it was
/// detected; otherwise 1 when any campaign failed.
int print_summaries(const std::vector<CampaignResult>& results, bool json, bool with_fault, bool coverage) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int64_t total = 0, total_fail = 0;
  double total_s = 0;
  bool any_failure = false;
  for (const CampaignResult& r : results) {
    total += r.cases_run;
    total_fail += r.failures;
    total_s += r.seconds;
    any_failure = any_failure || r.first_failure.has_value();
    if (json) out.push_back(summary_json(r));
    else std::cout << summary_text(r, coverage);
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    fmt::print("summary: {} cases, {} failures, {:.1f} cases/s{}\n", total, total_fail, total_s > 0 ? total / total_s : 0.0,
               g_interrupted.load() ? " (interrupted)" : "");
  }
  if (g_interrupted.load()) return kExitInterrupted;
  // With --fault the campaign's purpose is detection: success means a failure was found.
  if (with_fault) return any_failure ? 0 : 1;
  return any_failure ? 1 : 0;
}

/// --impl: the plugin and the selected ops run through it (every op it declares when --op is not given).
struct ImplOps {
  std::shared_ptr<const Impl> impl;
  std::vector<std::unique_ptr<ImplOp>> ops;
};
ImplOps impl_ops(const std::string& path, const std::vector<std::string>& names) {
  ImplOps r;
  r.impl = Impl::load(path, g_impl_options);
  std::vector<std::string> wanted = names;
  if (wanted.empty())
    for (const ImplOpSupport& s : r.impl->ops()) wanted.push_back(s.op);
  for (const std::string& n : wanted) r.ops.push_back(std::make_unique<ImplOp>(find_op(n), r.impl));
  return r;
}

int cmd_fuzz(const FuzzArgs& a, bool json) {
  ImplOps plugged;
  std::vector<const Op*> ops;
  if (!a.impl.empty()) {
    require(a.fault.empty(), "--fault", a.fault, "names a fault of lockstep's own kernels: not with --impl");
    plugged = impl_ops(a.impl, a.ops);
    for (const auto& op : plugged.ops) ops.push_back(op.get());
  } else {
    ops = selected_ops(a.ops);
  }
  if (!a.fault.empty()) {
    require(ops.size() == 1, "--fault", a.fault, "needs exactly one --op");
    device::fault_id(ops[0]->name(), a.fault);
  }
  const Backend backend = parse_backend(a.backend);
  device::require_backend(backend);
  require(a.first_case <= std::numeric_limits<int64_t>::max() - a.cases, "--first-case", a.first_case,
          fmt::format("--first-case + --cases ({}) must stay below 2^63", a.cases));
  // Found before any case runs: a failure found later must not be lost for want of a place to dump it.
  if (!a.dump_dir.empty()) h5::check_writable_dir(a.dump_dir);
  const CampaignOptions base = campaign_options(a, backend);

  std::vector<CampaignResult> results;
  for (const Op* op : ops) {
    CampaignOptions o = base;
    const auto [begin, end] = shard_range(o.first_case, o.cases, o.shard.value_or(Shard{}));
    o.progress = progress_line(op->name(), end - begin, a.time_limit);
    results.push_back(run_campaign(*op, o));
    clear_progress_line();
    if (g_interrupted.load()) break;
  }
  return print_summaries(results, json, !a.fault.empty(), a.coverage);
}

/// `lockstep merge`: shard summaries (files written by `lockstep --json fuzz --shard K/N`) into the
/// summaries of the unsharded campaigns, one per op in first-seen order.
int cmd_merge(const std::vector<std::string>& paths, bool json, bool coverage) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<std::vector<CampaignResult>, std::vector<std::string>>> by_op;
  for (const std::string& path : paths) {
    const std::vector<CampaignResult> rs = read_summary_file(path);
    for (size_t k = 0; k < rs.size(); ++k) {
      if (!by_op.count(rs[k].op)) order.push_back(rs[k].op);
      auto& [list, sources] = by_op[rs[k].op];
      list.push_back(rs[k]);
      sources.push_back(rs.size() == 1 ? path : fmt::format("{}[{}]", path, k));
    }
  }
  std::vector<CampaignResult> merged;
  bool with_fault = false;
  for (const std::string& op : order) {
    const auto& [list, sources] = by_op[op];
    merged.push_back(merge_campaigns(list, sources));
    with_fault = with_fault || !merged.back().fault.empty();
  }
  return print_summaries(merged, json, with_fault, coverage);
}

/// `lockstep zoo`: every named fault of every op (or of --op); exit 1 when any goes undetected. Uses the
/// campaign options of `fuzz` (no --fault, --shard or --time-limit).
int cmd_zoo(const FuzzArgs& a, bool markdown, bool json) {
  const std::vector<const Op*> ops = selected_ops(a.ops);
  const Backend backend = parse_backend(a.backend);
  device::require_backend(backend);
  if (!a.dump_dir.empty()) h5::check_writable_dir(a.dump_dir);
  const CampaignOptions base = campaign_options(a, backend);
  const std::vector<ZooRow> rows =
      run_zoo(ops, base, [&](size_t k, size_t n, const std::string& op, const std::string& fault) {
        if (isatty(fileno(stderr))) fmt::print(stderr, "\rzoo {}/{}: {} --fault {}\033[K", k + 1, n, op, fault);
      });
  clear_progress_line();
  require(!rows.empty() || g_interrupted.load(), "--op", a.ops.empty() ? "" : a.ops.front(), "has no named faults");
  if (json) std::cout << zoo_json(rows).dump(2) << "\n";
  else if (markdown) std::cout << zoo_markdown(rows);
  else std::cout << zoo_text(rows);
  if (g_interrupted.load()) return kExitInterrupted;
  bool all = true;
  for (const ZooRow& r : rows) all = all && r.detected();
  return all ? 0 : 1;
}

/// Input-file options of run and replay.
struct InputArgs {
  int64_t max_elements = h5::kDefaultMaxFileElements;
  int64_t max_bytes = h5::kDefaultMaxFileBytes;
  double read_timeout = 5;
  bool allow_unknown_fields = false;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--max-input-elements", max_elements, "budget of tensor elements in the input file")
        ->check(integer_in<int64_t>(1, h5::kMaxElements * int64_t{64}));
    cmd->add_option("--max-input-bytes", max_bytes, "budget of bytes (decompressed + in memory) of the input file")
        ->check(integer_in<int64_t>(1, int64_t{1} << 40));
    cmd->add_option("--read-timeout", read_timeout, "seconds the (isolated) HDF5 parse of the input may take")
        ->check(finite_non_negative());
    cmd->add_flag("--allow-unknown-fields", allow_unknown_fields,
                  "accept /case fields the op does not know (they are ignored)");
  }
  LoadOptions load() const {
    LoadOptions o;
    o.read.limits.max_elements = max_elements;
    o.read.limits.max_bytes = max_bytes;
    o.read.timeout_s = read_timeout > 0 ? read_timeout : 5;
    o.read.interrupted = &g_interrupted;
    o.allow_unknown_fields = allow_unknown_fields;
    return o;
  }
};

/// What `replay --fault` asked for (std::nullopt: the fault recorded in the dump).
std::optional<std::string> replay_fault(const std::string& flag, bool given) {
  if (!given) return std::nullopt;
  return flag;
}

int cmd_replay(const std::string& path, const std::string& backend, const std::optional<std::string>& fault,
               const InputArgs& in, bool json, std::shared_ptr<const Impl> impl) {
  std::optional<Backend> b;
  if (!backend.empty()) b = parse_backend(backend);
  const ReplayResult r = replay_file(path, b, in.load(), fault, std::move(impl));
  if (json) {
    nlohmann::ordered_json j{{"report", to_json(r.result.report)},
                             {"has_stored_report", r.has_stored_report},
                             {"identical_to_stored", r.identical}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << to_text(r.result.report);
    if (r.has_stored_report)
      fmt::print("report {} the one stored in the dump\n", r.identical ? "is identical to" : "DIFFERS from");
  }
  if (r.result.report.passed) return 0;
  // The reference rejecting the case is bad input (exit 2), like validate() rejecting it.
  return r.result.report.error.rfind("invalid case: ", 0) == 0 ? 2 : 1;
}

// `replay --expect-pass`, the verdict for `git bisect run` (README "Finding the commit that broke a case"):
// 0 = the case passes at this build (good), 1 = it still fails (bad), 125 = this build cannot judge it
// (git bisect skips the commit): the file cannot be read, its op or fault is unknown to this build, the case
// is invalid under this build's validation, or lockstep failed internally. An interruption stays 130 (>= 128
// aborts the bisection).
constexpr int kExitPass = 0, kExitStillFails = 1, kExitCannotJudge = 125;

int expect_pass_verdict(int code, const std::string& detail, const std::string& path, bool json) {
  const char* verdict = code == kExitPass ? "pass" : code == kExitStillFails ? "still fails" : "cannot judge";
  if (json) {
    nlohmann::ordered_json j{{"file", path}, {"verdict", verdict}, {"detail", detail}, {"exit", code}};
    std::cout << j.dump(2) << "\n";
  } else if (code == kExitPass) {
    fmt::print("expect-pass: pass: {} (exit 0)\n", detail);
  } else if (code == kExitStillFails) {
    fmt::print("expect-pass: still fails: {} (exit 1)\n", detail);
  } else {
    fmt::print("expect-pass: cannot judge: {} (exit 125: git bisect skips this commit)\n", detail);
  }
  return code;
}

int cmd_replay_expect_pass(const std::string& path, const std::string& backend,
                           const std::optional<std::string>& fault, const InputArgs& in, bool json,
                           const std::string& impl_path) {
  ReplayResult r;
  try {
    std::optional<Backend> b;
    if (!backend.empty()) b = parse_backend(backend);
    // A plugin this commit cannot load (its ABI changed, say) cannot judge the case either.
    r = replay_file(path, b, in.load(), fault, impl_path.empty() ? nullptr : Impl::load(impl_path, g_impl_options));
  } catch (const h5::Interrupted&) {
    throw;
  } catch (const Error& e) {
    return expect_pass_verdict(kExitCannotJudge, escape_control(e.what()), path, json);
  } catch (const std::bad_alloc&) {
    return expect_pass_verdict(kExitCannotJudge, "out of memory replaying " + escape_control(path), path, json);
  } catch (const std::exception& e) {
    return expect_pass_verdict(kExitCannotJudge, "internal error: " + escape_control(e.what()), path, json);
  }
  const Report& rep = r.result.report;
  if (rep.passed) return expect_pass_verdict(kExitPass, escape_control(rep.case_string), path, json);
  if (rep.error.rfind("invalid case: ", 0) == 0)
    return expect_pass_verdict(kExitCannotJudge, escape_control(rep.error), path, json);
  const std::string first = !rep.error.empty() ? "error: " + rep.error
                            : !rep.failures.empty() ? rep.failures.front()
                                                    : "FAIL " + rep.case_string;
  return expect_pass_verdict(kExitStillFails, escape_control(first), path, json);
}

/// `lockstep run`: exit 0, or 1 when the side read out-of-range pages (each listed, as in the fuzz report;
/// the outputs are still written) unless `allow_oob`.
int cmd_run(const std::string& op, const std::string& in, const std::string& out, const std::string& side,
            const std::string& device, bool allow_oob, const InputArgs& input, bool json,
            std::shared_ptr<const Impl> impl) {
  const SideResult r = run_file(op, in, out, side, parse_backend(device), input.load(), std::move(impl));
  const bool oob = !r.oob.empty() || r.oob_dropped > 0;
  if (json) {
    nlohmann::ordered_json j{{"out", out}, {"backend", side}, {"oob_reads", oob_json(r.oob)},
                             {"oob_dropped", r.oob_dropped}};
    std::cout << j.dump(2) << "\n";
  } else {
    fmt::print("wrote {} outputs to {}\n", side, out);
    for (const OobRead& o : r.oob) fmt::print("  {} OOB read: {}\n", side, oob_line(o));
    if (r.oob_dropped > 0) fmt::print("  ({} more OOB records dropped)\n", r.oob_dropped);
    if (oob) {
      fmt::print("{} read {} out-of-range page index slot(s): those reads returned zeros and their writes were "
                 "dropped{}\n",
                 side, r.oob.size() + r.oob_dropped,
                 allow_oob ? " (allowed by --allow-oob)" : " (exit 1; --allow-oob accepts them)");
    }
  }
  return oob && !allow_oob ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  install_stop_handlers();
  CLI::App app{"lockstep: differential testing of LLM-serving kernels against a CPU reference"};
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "machine-readable output");

  auto* list = app.add_subcommand("list", "list ops, their faults and the available backends");
  std::string list_abi, list_impl;
  list->add_option("--abi", list_abi, "print the plugin arguments (include/lockstep/impl.h) of this op");
  list->add_option("--impl", list_impl, "load a plugin and print its ops and capabilities");

  FuzzArgs fa;
  auto* fuzz = app.add_subcommand("fuzz", "fuzz ops: generate cases, run reference and device in lockstep, shrink "
                                          "and dump the first failure");
  fuzz->add_option("--op", fa.ops, "op to fuzz (repeatable; default: every registered op)");
  fuzz->add_option("--cases", fa.cases, "cases per op")
      ->check(integer_in<int64_t>(1, std::numeric_limits<int64_t>::max()));
  fuzz->add_option("--seed", fa.seed, "campaign seed; case i is a pure function of (op, seed, i)")
      ->check(integer_in<uint64_t>(0, std::numeric_limits<uint64_t>::max()));
  fuzz->add_option("--first-case", fa.first_case, "index of the first case (to reproduce case i: --first-case i "
                                                  "--cases 1)")
      ->check(integer_in<int64_t>(0, std::numeric_limits<int64_t>::max()));
  fuzz->add_option("--backend", fa.backend, "device backend: cpu, cuda, or staged (the CUDA path's copies in guarded host memory, kernels on the CPU)")->check(CLI::IsMember({"cpu", "cuda", "staged"}));
  fuzz->add_option("--fault", fa.fault, "inject a named fault (see `lockstep list`); exit 0 iff it is detected");
  fuzz->add_option("--threads", fa.threads, "worker threads")->check(CLI::Range(1, 64));
  fuzz->add_option("--dump-dir", fa.dump_dir, "where failure dumps are written");
  fuzz->add_option("--time-limit", fa.time_limit, "stop starting new cases after this many seconds (0 = none)")
      ->check(finite_non_negative());
  fuzz->add_option("--shrink-budget", fa.shrink, "lockstep runs spent shrinking a failure")->check(CLI::NonNegativeNumber);
  fuzz->add_option("--shard", fa.shard, "run shard K of N (0-based, 0 <= K < N) of the case range; combine the N "
                                        "`--json` outputs with `lockstep merge`");
  fuzz->add_flag("--coverage", fa.coverage, "print every coverage region's counter (one line per axis)");
  fuzz->add_option("--impl", fa.impl, "external implementation as the device side: a plugin .so (include/lockstep/impl.h) "
                                      "or python:worker.py (fixtures/lockstep_worker.py); cases stay inside its "
                                      "capabilities; default --op: every op it declares");

  std::vector<std::string> merge_paths;
  auto* merge = app.add_subcommand("merge", "combine the --json summaries of `lockstep fuzz --shard K/N` runs into "
                                            "the summary of the whole campaign (first failure = lowest case index)");
  merge->add_option("summaries", merge_paths, "JSON files written by `lockstep --json fuzz --shard K/N ...`")->required();
  bool merge_coverage = false;
  merge->add_flag("--coverage", merge_coverage, "print every coverage region's counter (one line per axis)");

  FuzzArgs za;
  bool zoo_markdown_flag = false;
  auto* zoo = app.add_subcommand("zoo", "run every named fault of every op and print which are detected, after how "
                                        "many cases and seconds, and how small the shrunk counterexample is");
  zoo->add_option("--op", za.ops, "only this op's faults (repeatable)");
  zoo->add_option("--cases", za.cases, "cases per fault campaign")->check(CLI::PositiveNumber);
  zoo->add_option("--seed", za.seed, "campaign seed");
  zoo->add_option("--threads", za.threads, "worker threads")->check(CLI::Range(1, 64));
  zoo->add_option("--backend", za.backend, "device backend: cpu, cuda, or staged (the CUDA path's copies in guarded host memory, kernels on the CPU)")->check(CLI::IsMember({"cpu", "cuda", "staged"}));
  zoo->add_option("--dump-dir", za.dump_dir, "where the shrunk counterexamples are written");
  zoo->add_option("--shrink-budget", za.shrink, "lockstep runs spent shrinking each failure")->check(CLI::NonNegativeNumber);
  zoo->add_flag("--markdown", zoo_markdown_flag, "print a Markdown table");

  std::string run_op, run_in, run_out, run_side = "device", run_device = "cpu";
  auto* run = app.add_subcommand("run", "run one backend on a case file and write its outputs");
  run->add_option("--op", run_op, "op name (default: the file's op attribute)");
  run->add_option("--in", run_in, "input HDF5 case (fixtures/SCHEMA.md)")->required();
  run->add_option("--out", run_out, "output HDF5 file")->required();
  run->add_option("--backend", run_side, "reference or device")->check(CLI::IsMember({"reference", "device"}));
  run->add_option("--device", run_device, "device backend: cpu, cuda, or staged (the CUDA path's copies in guarded host memory, kernels on the CPU)")->check(CLI::IsMember({"cpu", "cuda", "staged"}));
  bool run_allow_oob = false;
  run->add_flag("--allow-oob", run_allow_oob, "exit 0 even when the case reads out-of-range pages (still listed)");
  InputArgs run_input;
  run_input.add_to(run);
  std::string run_impl;
  run->add_option("--impl", run_impl, "external implementation (plugin .so or python:worker.py) as the device side");

  std::string replay_path, replay_backend, replay_fault_flag;
  bool replay_expect_pass = false;
  auto* replay = app.add_subcommand("replay", "re-run a dump (or any case file) in lockstep and print its report");
  replay->add_option("dump", replay_path, "HDF5 dump or case file")->required();
  replay->add_option("--backend", replay_backend, "override the recorded device backend: cpu, cuda or staged")
      ->check(CLI::IsMember({"cpu", "cuda", "staged"}));
  auto* replay_fault_opt =
      replay->add_option("--fault", replay_fault_flag, "override the recorded fault: a named fault of the dump's op, "
                                                      "or none");
  replay->add_flag("--expect-pass", replay_expect_pass,
                   "for `git bisect run`: print one verdict line and exit 0 if the case passes, 1 if it still "
                   "fails, 125 if this build cannot judge it (unreadable file, unknown op or fault, invalid case)");
  InputArgs replay_input;
  replay_input.add_to(replay);
  std::string replay_impl;
  replay->add_option("--impl", replay_impl, "external implementation (plugin .so or python:worker.py) as the device side (required for a "
                                            "dump recorded with one)");

  // `lockstep bisect` (issue 11): where drift starts in the decoder stack, which fusion causes it.
  bisect::BisectArgs bisect_args;
  auto* bisect_cmd = app.add_subcommand(
      "bisect", "run the decoder stack (reference in double vs device kernels in bf16) and find where numerical "
                "drift starts (--where) or which fusion causes it (--which-fusion)");
  bisect_cmd->add_flag("--where", bisect_args.where,
                       "first (step, layer, op) whose local error exceeds its budget, with the chain of errors "
                       "leading to it (exit 1 when found, 0 when all within budget)");
  bisect_cmd->add_flag("--which-fusion", bisect_args.which_fusion,
                       "delta debugging over the fusion toggles: the minimal set of fusions responsible");
  bisect_cmd->add_option("--seed", bisect_args.seed, "weights, inputs and page order (default 1)");
  bisect_cmd->add_option("--layers", bisect_args.layers, "layers, 5 sliding : 1 full, last full (default 6)");
  bisect_cmd->add_option("--prefill", bisect_args.prefill, "prefill tokens at step 0 (default 16)");
  bisect_cmd->add_option("--steps", bisect_args.steps, "decode steps after the prefill (default 64)");
  bisect_cmd->add_option("--fusions", bisect_args.fusions,
                         "fused ops: all (default), none, or a comma list of qkv_norm, rope_positions, kv_write, "
                         "triple_norm, gelu_tanh_mul, routing, dual_norm_tail, residual_scalar_tail");
  bisect_cmd->add_option("--fault", bisect_args.fault,
                         "test-only drift fault: none, fused_norm_accumulates_in_bf16, "
                         "rope_position_off_by_one_on_decode, routing_weights_not_scaled, kv_written_bf16_read_as_f16");
  bisect_cmd->add_option("--budget-abs", bisect_args.budget_abs,
                         "absolute budget: local max |device - reference| (default: relative to bf16 rounding)");
  bisect_cmd->add_option("--budget-scale", bisect_args.budget_scale,
                         "multiplier of the default relative budget (default 1)");
  bisect_cmd->add_option("--checkpoints", bisect_args.checkpoints,
                         "--where: write every checkpoint (values and errors) to this HDF5 file");
  bisect_cmd->add_option("--plot", bisect_args.plot,
                         "--where: also draw PREFIX_heatmap.png (layers x steps, log10 error / budget) and "
                         "PREFIX_growth.png (error growth per op) with fixtures/bisect_plot.py (needs matplotlib)");
  bisect_cmd->add_option("--trace", bisect_args.trace,
                         "bisect an external activation trace (fixtures/SCHEMA.md, Decoder traces; written with "
                         "fixtures/lockstep_h5.py write_decoder_trace) against the reference stack: first (step, layer) "
                         "over budget (exit 1), 0 when within budget");

  // --impl python:worker.py: per-case and start-up time limits of the worker (every command taking --impl).
  for (CLI::App* cmd : {fuzz, run, replay, list}) {
    cmd->add_option("--impl-timeout", g_impl_options.timeout_s,
                    "seconds a Python worker (--impl python:...) or an isolated plugin call may take per case "
                    "(default 60, or the worker's own set_timeout); then it is killed and the case fails (a "
                    "worker is restarted for the next case)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--impl-startup-timeout", g_impl_options.startup_timeout_s,
                    "seconds a Python worker may take to start and declare itself")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--impl-in-process{false}", g_impl_options.isolate_plugins,
                  "run a host plugin's calls in lockstep's process (default: each call in a forked child, so that "
                  "a crash or hang of the plugin fails that case only)");
  }

  // The first word that is not an option must name a command (CLI11 would say "A subcommand is required").
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    std::string known;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name() == word) {
        known.clear();
        break;
      }
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known.empty()) {
      fmt::print(stderr, "lockstep: error: unknown command '{}' (commands: {}; see --help)\n", escape_control(word),
                 known);
      return 2;
    }
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "lockstep: error: {} (see --help)\n", escape_control(e.what()));
    // `replay --expect-pass` answers git bisect: a command line this build does not accept cannot judge
    // the case (125, skip), it must not mark the commit bad.
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]) == "--expect-pass") {
        fmt::print("expect-pass: cannot judge: this build rejects the command line: {} (exit 125: git bisect "
                   "skips this commit)\n",
                   escape_control(e.what()));
        return kExitCannotJudge;
      }
    return 2;
  }
  int rc = 0;
  try {
    if (*list) rc = !list_abi.empty() ? cmd_abi(list_abi) : !list_impl.empty() ? cmd_list_impl(list_impl) : cmd_list(json);
    if (*fuzz) rc = cmd_fuzz(fa, json);
    if (*merge) rc = cmd_merge(merge_paths, json, merge_coverage);
    if (*zoo) rc = cmd_zoo(za, zoo_markdown_flag, json);
    if (*run && !g_interrupted.load())
      rc = cmd_run(run_op, run_in, run_out, run_side, run_device, run_allow_oob, run_input, json,
                   run_impl.empty() ? nullptr : Impl::load(run_impl, g_impl_options));
    if (*bisect_cmd) rc = bisect::run_bisect_command(bisect_args);
    if (*replay) {
      const auto fault = replay_fault(replay_fault_flag, replay_fault_opt->count() > 0);
      rc = replay_expect_pass
               ? cmd_replay_expect_pass(replay_path, replay_backend, fault, replay_input, json, replay_impl)
               : cmd_replay(replay_path, replay_backend, fault, replay_input, json,
                            replay_impl.empty() ? nullptr : Impl::load(replay_impl, g_impl_options));
    }
  } catch (const h5::Interrupted&) {
    rc = kExitInterrupted;
  } catch (const Error& e) {
    fmt::print(stderr, "lockstep: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "lockstep: error: out of memory{}\n",
               *run ? " running the case in " + run_in : *replay ? " replaying " + replay_path : "");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "lockstep: internal error: {}\n", escape_control(e.what()));
    return 3;
  }
  if (g_interrupted.load()) {
    fmt::print(stderr, "lockstep: interrupted\n");
    return kExitInterrupted;
  }
  return rc;
}
