// lockstep: run reference and device kernels in lockstep, fuzz them, replay their failures.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "device/core/faults.h"
#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/replay.h"
#include "oracle/summary.h"
#include "oracle/zoo.h"

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
  // With --fault the campaign's purpose is detection: success means a failure was found.
  if (with_fault) return any_failure ? 0 : 1;
  return any_failure ? 1 : 0;
}

int cmd_fuzz(const FuzzArgs& a, bool json) {
  const std::vector<const Op*> ops = selected_ops(a.ops);
  if (!a.fault.empty()) {
    require(ops.size() == 1, "--fault", a.fault, "needs exactly one --op");
    device::fault_id(ops[0]->name(), a.fault);
  }
  const Backend backend = parse_backend(a.backend);
  device::require_backend(backend);
  const CampaignOptions base = campaign_options(a, backend);
  std::signal(SIGINT, on_sigint);

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
  const CampaignOptions base = campaign_options(a, backend);
  std::signal(SIGINT, on_sigint);
  const std::vector<ZooRow> rows =
      run_zoo(ops, base, [&](size_t k, size_t n, const std::string& op, const std::string& fault) {
        if (isatty(fileno(stderr))) fmt::print(stderr, "\rzoo {}/{}: {} --fault {}\033[K", k + 1, n, op, fault);
      });
  clear_progress_line();
  require(!rows.empty() || g_interrupted.load(), "--op", a.ops.empty() ? "" : a.ops.front(), "has no named faults");
  if (json) std::cout << zoo_json(rows).dump(2) << "\n";
  else if (markdown) std::cout << zoo_markdown(rows);
  else std::cout << zoo_text(rows);
  bool all = !g_interrupted.load();
  for (const ZooRow& r : rows) all = all && r.detected();
  return all ? 0 : 1;
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
  fuzz->add_option("--shard", fa.shard, "run shard K of N (0-based, 0 <= K < N) of the case range; combine the N "
                                        "`--json` outputs with `lockstep merge`");
  fuzz->add_flag("--coverage", fa.coverage, "print every coverage region's counter (one line per axis)");

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
  zoo->add_option("--backend", za.backend, "device backend: cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  zoo->add_option("--dump-dir", za.dump_dir, "where the shrunk counterexamples are written");
  zoo->add_option("--shrink-budget", za.shrink, "lockstep runs spent shrinking each failure")->check(CLI::NonNegativeNumber);
  zoo->add_flag("--markdown", zoo_markdown_flag, "print a Markdown table");

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
    if (*merge) return cmd_merge(merge_paths, json, merge_coverage);
    if (*zoo) return cmd_zoo(za, zoo_markdown_flag, json);
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
