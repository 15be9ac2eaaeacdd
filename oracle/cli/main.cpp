// lockstep: run reference and device kernels in lockstep, fuzz them, replay their failures.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/replay.h"

using namespace lockstep;
using namespace lockstep::oracle;

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted.store(true); }

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
  const bool tty = isatty(fileno(stderr)) && !json;
  std::signal(SIGINT, on_sigint);

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
  // With --fault the campaign's purpose is detection: success means a failure was found.
  if (!a.fault.empty()) return any_failure ? 0 : 1;
  return any_failure ? 1 : 0;
}

int cmd_replay(const std::string& path, const std::string& backend, bool json) {
  std::optional<Backend> b;
  if (!backend.empty()) b = parse_backend(backend);
  const ReplayResult r = replay_file(path, b);
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

/// `lockstep run`: exit 0, or 1 when the side read out-of-range pages (each listed, as in the fuzz report;
/// the outputs are still written) unless `allow_oob`.
int cmd_run(const std::string& op, const std::string& in, const std::string& out, const std::string& side,
            const std::string& device, bool allow_oob, bool json) {
  const SideResult r = run_file(op, in, out, side, parse_backend(device));
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
  CLI::App app{"lockstep: differential testing of LLM-serving kernels against a CPU reference"};
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "machine-readable output");

  auto* list = app.add_subcommand("list", "list ops, their faults and the available backends");

  FuzzArgs fa;
  auto* fuzz = app.add_subcommand("fuzz", "fuzz ops: generate cases, run reference and device in lockstep, shrink "
                                          "and dump the first failure");
  fuzz->add_option("--op", fa.ops, "op to fuzz (repeatable; default: every registered op)");
  fuzz->add_option("--cases", fa.cases, "cases per op")->check(CLI::PositiveNumber);
  fuzz->add_option("--seed", fa.seed, "campaign seed; case i is a pure function of (op, seed, i)");
  fuzz->add_option("--first-case", fa.first_case, "index of the first case (to reproduce case i: --first-case i "
                                                  "--cases 1)")->check(CLI::NonNegativeNumber);
  fuzz->add_option("--backend", fa.backend, "device backend: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  fuzz->add_option("--fault", fa.fault, "inject a named fault (see `lockstep list`); exit 0 iff it is detected");
  fuzz->add_option("--threads", fa.threads, "worker threads")->check(CLI::Range(1, 64));
  fuzz->add_option("--dump-dir", fa.dump_dir, "where failure dumps are written");
  fuzz->add_option("--time-limit", fa.time_limit, "stop starting new cases after this many seconds (0 = none)");
  fuzz->add_option("--shrink-budget", fa.shrink, "lockstep runs spent shrinking a failure")->check(CLI::NonNegativeNumber);

  std::string run_op, run_in, run_out, run_side = "device", run_device = "cpu";
  auto* run = app.add_subcommand("run", "run one backend on a case file and write its outputs");
  run->add_option("--op", run_op, "op name (default: the file's op attribute)");
  run->add_option("--in", run_in, "input HDF5 case (fixtures/SCHEMA.md)")->required();
  run->add_option("--out", run_out, "output HDF5 file")->required();
  run->add_option("--backend", run_side, "reference or device")->check(CLI::IsMember({"reference", "device"}));
  run->add_option("--device", run_device, "device backend: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  bool run_allow_oob = false;
  run->add_flag("--allow-oob", run_allow_oob, "exit 0 even when the case reads out-of-range pages (still listed)");

  std::string replay_path, replay_backend;
  auto* replay = app.add_subcommand("replay", "re-run a dump (or any case file) in lockstep and print its report");
  replay->add_option("dump", replay_path, "HDF5 dump or case file")->required();
  replay->add_option("--backend", replay_backend, "override the recorded device backend: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "lockstep: error: {} (see --help)\n", e.what());
    return 2;
  }
  try {
    if (*list) return cmd_list(json);
    if (*fuzz) return cmd_fuzz(fa, json);
    if (*run) return cmd_run(run_op, run_in, run_out, run_side, run_device, run_allow_oob, json);
    if (*replay) return cmd_replay(replay_path, replay_backend, json);
  } catch (const Error& e) {
    fmt::print(stderr, "lockstep: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "lockstep: internal error: {}\n", e.what());
    return 3;
  }
  return 0;
}
