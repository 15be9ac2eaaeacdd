// lockstep: run reference and device kernels in lockstep, fuzz them, replay their failures.
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <limits>
#include <new>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/h5io.h"
#include "oracle/op.h"
#include "oracle/replay.h"

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
  fmt::print("backends: cpu{}\n", cuda ? ", cuda" : fmt::format(" (cuda unavailable: {})", why));
  return 0;
}

struct FuzzArgs {
  std::vector<std::string> ops;
  int64_t cases = 1000;
  uint64_t seed = 1;
  int64_t first_case = 0;
  std::string backend = "cpu";
  std::string fault;
  int threads = 2;
  std::string dump_dir = "lockstep-dumps";
  double time_limit = 0;
  int shrink = 400;
};

int cmd_fuzz(const FuzzArgs& a, bool json) {
  std::vector<const Op*> ops;
  if (a.ops.empty()) {
    for (const auto& op : registry()) ops.push_back(op.get());
  } else {
    for (const auto& n : a.ops) ops.push_back(&find_op(n));
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
  const bool tty = isatty(fileno(stderr)) && !json;

  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int64_t total = 0, total_fail = 0;
  double total_s = 0;
  bool any_failure = false;
  for (const Op* op : ops) {
    CampaignOptions o;
    o.run = {backend, a.fault};
    o.seed = a.seed;
    o.first_case = a.first_case;
    o.cases = a.cases;
    o.threads = a.threads;
    o.dump_dir = a.dump_dir;
    o.time_limit_s = a.time_limit;
    o.shrink_evaluations = a.shrink;
    o.interrupted = &g_interrupted;
    if (tty) {
      o.progress = [&](int64_t done, int64_t fails) {
        if (done % 50 == 0 || done == a.cases)
          fmt::print(stderr, "\r{}: {}/{} cases, {} failing", op->name(), done, a.cases, fails);
      };
    }
    const CampaignResult r = run_campaign(*op, o);
    if (tty) fmt::print(stderr, "\r\033[K");
    total += r.cases_run;
    total_fail += r.failures;
    total_s += r.seconds;
    nlohmann::ordered_json e{{"op", r.op},       {"seed", r.seed},          {"backend", r.backend},
                             {"fault", r.fault}, {"cases", r.cases_run},    {"failures", r.failures},
                             {"seconds", r.seconds}, {"cases_per_second", r.cases_per_second()}};
    if (!r.stats.empty()) {
      nlohmann::ordered_json st = nlohmann::ordered_json::object();
      for (const auto& [k, v] : r.stats) st[k] = v;
      e["stats"] = st;
    }
    if (r.first_failure) {
      any_failure = true;
      const CampaignFailure& f = *r.first_failure;
      e["first_failure"] = {{"case_index", f.case_index},       {"original_case", f.original.case_string},
                            {"shrunk_case", f.shrunk.case_string}, {"shrink_steps", f.shrink_steps},
                            {"shrink_tries", f.shrink_tries},   {"dump", f.dump_path},
                            {"repro", f.repro_command},         {"report", to_json(f.shrunk)}};
    }
    out.push_back(e);
    if (!json) {
      fmt::print("{:<24} {:>7} cases  {:>5} failing  {:>8.1f} cases/s  seed {}{}\n", r.op, r.cases_run, r.failures,
                 r.cases_per_second(), r.seed, r.fault.empty() ? "" : "  fault " + r.fault);
      if (!r.stats.empty()) {
        std::string line;
        for (const auto& [k, v] : r.stats)
          line += v == static_cast<double>(static_cast<int64_t>(v)) ? fmt::format("  {} {}", k, static_cast<int64_t>(v))
                                                                   : fmt::format("  {} {:.4g}", k, v);
        fmt::print("  stats:{}\n", line);
      }
      if (r.first_failure) {
        const CampaignFailure& f = *r.first_failure;
        fmt::print("  first failure: case {} (size {}), shrunk in {} steps ({} runs) to:\n", f.case_index, f.size,
                   f.shrink_steps, f.shrink_tries);
        std::cout << to_text(f.shrunk);
        if (!f.dump_path.empty()) fmt::print("  dump: {}\n", f.dump_path);
        if (!f.dump_error.empty()) fmt::print("  dump: not written: {}\n", escape_control(f.dump_error));
        fmt::print("  reproduce: {}\n", f.repro_command);
      }
    }
    if (g_interrupted.load()) break;
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    fmt::print("summary: {} cases, {} failures, {:.1f} cases/s{}\n", total, total_fail, total_s > 0 ? total / total_s : 0.0,
               g_interrupted.load() ? " (interrupted)" : "");
  }
  if (g_interrupted.load()) return kExitInterrupted;
  // With --fault the campaign's purpose is detection: success means a failure was found.
  if (!a.fault.empty()) return any_failure ? 0 : 1;
  return any_failure ? 1 : 0;
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

int cmd_replay(const std::string& path, const std::string& backend, const InputArgs& in, bool json) {
  std::optional<Backend> b;
  if (!backend.empty()) b = parse_backend(backend);
  const ReplayResult r = replay_file(path, b, in.load());
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
  return r.result.report.passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  install_stop_handlers();
  CLI::App app{"lockstep: differential testing of LLM-serving kernels against a CPU reference"};
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "machine-readable output");

  auto* list = app.add_subcommand("list", "list ops, their faults and the available backends");

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
  fuzz->add_option("--backend", fa.backend, "device backend: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  fuzz->add_option("--fault", fa.fault, "inject a named fault (see `lockstep list`); exit 0 iff it is detected");
  fuzz->add_option("--threads", fa.threads, "worker threads")->check(CLI::Range(1, 64));
  fuzz->add_option("--dump-dir", fa.dump_dir, "where failure dumps are written");
  fuzz->add_option("--time-limit", fa.time_limit, "stop starting new cases after this many seconds (0 = none)")
      ->check(finite_non_negative());
  fuzz->add_option("--shrink-budget", fa.shrink, "lockstep runs spent shrinking a failure")->check(CLI::NonNegativeNumber);

  std::string run_op, run_in, run_out, run_side = "device", run_device = "cpu";
  auto* run = app.add_subcommand("run", "run one backend on a case file and write its outputs");
  run->add_option("--op", run_op, "op name (default: the file's op attribute)");
  run->add_option("--in", run_in, "input HDF5 case (fixtures/SCHEMA.md)")->required();
  run->add_option("--out", run_out, "output HDF5 file")->required();
  run->add_option("--backend", run_side, "reference or device")->check(CLI::IsMember({"reference", "device"}));
  run->add_option("--device", run_device, "device backend: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  InputArgs run_input;
  run_input.add_to(run);

  std::string replay_path, replay_backend;
  auto* replay = app.add_subcommand("replay", "re-run a dump (or any case file) in lockstep and print its report");
  replay->add_option("dump", replay_path, "HDF5 dump or case file")->required();
  replay->add_option("--backend", replay_backend, "override the recorded device backend: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  InputArgs replay_input;
  replay_input.add_to(replay);

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
    return 2;
  }
  int rc = 0;
  try {
    if (*list) rc = cmd_list(json);
    if (*fuzz) rc = cmd_fuzz(fa, json);
    if (*run) {
      if (!g_interrupted.load()) {
        run_file(run_op, run_in, run_out, run_side, parse_backend(run_device), run_input.load());
        if (!json) fmt::print("wrote {} outputs to {}\n", run_side, run_out);
      }
    }
    if (*replay) rc = cmd_replay(replay_path, replay_backend, replay_input, json);
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
