#include "oracle/campaign.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "oracle/h5io.h"
#include "oracle/impl_op.h"

namespace lockstep::oracle {

int campaign_size(int64_t index) { return 1 + static_cast<int>(index % 100); }

rc::Shrinkable<std::any> campaign_case(const Op& op, uint64_t seed, int64_t index) {
  uint64_t key = seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(index) * 0xbf58476d1ce4e5b9ull + 0x1234567ull;
  return op.generator()(rc::Random(key), campaign_size(index));
}

Shard parse_shard(const std::string& text, const std::string& flag) {
  const size_t slash = text.find('/');
  auto number = [&](const std::string& s, int64_t& out) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoll(s);
    return true;
  };
  Shard sh;
  require(slash != std::string::npos && number(text.substr(0, slash), sh.index) &&
              number(text.substr(slash + 1), sh.count),
          flag, text, "must be K/N with integers 0 <= K < N (e.g. 0/4 ... 3/4)");
  require(sh.count >= 1, flag, text, "the shard count N must be at least 1");
  require(sh.index < sh.count, flag, text, fmt::format("the shard index K must be in [0, {}) (0-based)", sh.count));
  return sh;
}

std::pair<int64_t, int64_t> shard_range(int64_t first_case, int64_t cases, const Shard& shard) {
  auto bound = [&](int64_t k) {
    return first_case + static_cast<int64_t>((static_cast<__int128>(k) * cases) / shard.count);
  };
  return {bound(shard.index), bound(shard.index + 1)};
}

double StatTotal::value() const {
  const bool mean = name.rfind("mean_", 0) == 0;
  return mean ? (cases > 0 ? sum / static_cast<double>(cases) : 0.0) : sum;
}

std::vector<std::string> CampaignResult::missing_regions() const {
  std::vector<std::string> m;
  for (const auto& [name, count] : coverage)
    if (count == 0) m.push_back(name);
  return m;
}

std::string write_failure_dump(const Op& op, const std::any& c, const LockstepResult& result, const std::string& dir,
                               const std::string& stem, const std::vector<std::pair<std::string, std::string>>& info) {
  std::filesystem::create_directories(dir);
  const std::string path = (std::filesystem::path(dir) / (stem + ".h5")).string();
  h5::Dump d;
  d.kind = "dump";
  d.op = op.name();
  d.case_fields = op.case_to_record(c);
  if (!result.reference_outputs.fields.empty()) d.outputs.emplace_back("reference", result.reference_outputs);
  if (!result.device_outputs.fields.empty()) d.outputs.emplace_back("device", result.device_outputs);
  d.info = info;
  d.info.emplace_back("case_string", result.report.case_string);
  d.info.emplace_back("backend", result.report.backend);
  d.info.emplace_back("fault", result.report.fault);
  std::string repro = "lockstep replay " + path;
  for (const auto& [k, v] : info)
    if (k == "impl") repro += " --impl " + v;
  d.info.emplace_back("repro_command", repro);
  d.report_json = to_json(result.report).dump();
  h5::write_file(path, d);
  return path;
}

namespace {

/// Greedy shrinking: take the first shrink that still fails, repeat until none does or the budget ends.
void shrink(const Op& op, rc::Shrinkable<std::any> failing, LockstepResult last, const RunOptions& run, int budget,
            const std::atomic<bool>* interrupted, CampaignFailure& out) {
  bool progressed = true;
  while (progressed && out.shrink_tries < budget) {
    progressed = false;
    auto shrinks = failing.shrinks();
    while (out.shrink_tries < budget) {
      if (interrupted != nullptr && interrupted->load()) break;  // keep the smallest failure found so far
      auto next = shrinks.next();
      if (!next) break;
      ++out.shrink_tries;
      LockstepResult r = op.run(next->value(), run);
      if (!r.report.passed) {
        failing = std::move(*next);
        last = std::move(r);
        ++out.shrink_steps;
        progressed = true;
        break;
      }
    }
  }
  out.shrunk_case = failing.value();
  out.shrunk = std::move(last.report);
}


/// What a worker keeps of one case until it is folded in index order.
struct CaseOutcome {
  bool passed = true;
  std::vector<std::pair<std::string, double>> stats;
  std::vector<int> regions;
};

/// A stat value on the 2^-20 grid (see the file comment of campaign.h).
double on_stat_grid(double v) { return std::ldexp(std::nearbyint(std::ldexp(v, 20)), -20); }

}  // namespace

// The size of a (shrunk) counterexample: its values, i.e. tensor elements plus one per scalar field.
int64_t case_values(const Op& op, const std::any& c) {
  int64_t n = 0;
  for (const auto& [name, v] : op.case_to_record(c).fields) {
    const auto* t = std::get_if<Tensor>(&v);
    n += t ? t->numel() : 1;
  }
  return n;
}

CampaignResult run_campaign(const Op& op, const CampaignOptions& opt) {
  require(opt.cases >= 0, "--cases", opt.cases, "must not be negative");
  require(opt.first_case >= 0, "--first-case", opt.first_case, "must not be negative");
  require(opt.cases <= INT64_MAX - opt.first_case, "--cases", opt.cases,
          fmt::format("first case {} + cases overflows the case index", opt.first_case));
  const Shard shard = opt.shard.value_or(Shard{});
  require(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, "--shard",
          fmt::format("{}/{}", shard.index, shard.count), "must be K/N with 0 <= K < N");
  const auto [begin, end] = shard_range(opt.first_case, opt.cases, shard);
  const int64_t range = end - begin;

  CampaignResult res;
  res.op = op.name();
  res.seed = opt.seed;
  res.fault = opt.run.fault;
  res.backend = enum_name(opt.run.backend);
  const auto* impl_op = dynamic_cast<const ImplOp*>(&op);
  if (impl_op != nullptr) {
    res.impl = impl_op->impl().name();
    res.impl_path = impl_op->impl().path();
    res.capabilities = impl_op->support().caps_text();
  }
  res.first_case = opt.first_case;
  res.cases_requested = opt.cases;
  res.shard = opt.shard;
  const std::vector<std::string> region_names = op.coverage_regions();
  std::vector<int64_t> region_counts(region_names.size(), 0);

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  std::atomic<int64_t> next{0}, done{0}, failures_seen{0};
  std::atomic<int64_t> min_fail{INT64_MAX};  // lowest failing offset seen so far: no claims past it
  std::mutex mu, generation_mu;
  std::exception_ptr worker_error;
  // Reorder buffer: outcomes wait here until every lower offset is in, then fold in offset order.
  std::map<int64_t, CaseOutcome> pending;
  int64_t folded = 0;                 // offsets [0, folded) are folded
  std::optional<int64_t> fold_fail;   // offset of the first failing case folded (folding stops there)
  auto fold = [&](const CaseOutcome& o) {
    for (const auto& [name, value] : o.stats) {
      auto it = std::find_if(res.stats.begin(), res.stats.end(), [&](const StatTotal& s) { return s.name == name; });
      if (it == res.stats.end()) it = res.stats.insert(res.stats.end(), StatTotal{name, 0.0, 0});
      it->sum += on_stat_grid(value);
      ++it->cases;
    }
    for (int k : o.regions) ++region_counts[static_cast<size_t>(k)];
  };
  const int threads = std::max(1, opt.threads);

  auto worker = [&] {
    try {
      for (;;) {
        if (opt.interrupted && opt.interrupted->load()) return;
        if (opt.time_limit_s > 0 && elapsed() > opt.time_limit_s) return;
        const int64_t i = next.fetch_add(1);
        if (i >= range || i > min_fail.load()) return;
        std::any c;
        {
          // rapidcheck's generation context is process-global: draw cases one thread at a time.
          std::lock_guard<std::mutex> lock(generation_mu);
          c = campaign_case(op, opt.seed, begin + i).value();
        }
        LockstepResult r = op.run(c, opt.run);
        std::vector<int> regions = op.regions_reached(c, r.report);  // before the stats move out of the report
        CaseOutcome o{r.report.passed, std::move(r.report.stats), std::move(regions)};
        ++done;
        if (!o.passed) {
          ++failures_seen;
          int64_t cur = min_fail.load();
          while (i < cur && !min_fail.compare_exchange_weak(cur, i)) {
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        pending.emplace(i, std::move(o));
        while (!fold_fail && !pending.empty() && pending.begin()->first == folded) {
          fold(pending.begin()->second);
          if (!pending.begin()->second.passed) fold_fail = folded;
          pending.erase(pending.begin());
          ++folded;
        }
        if (opt.progress) opt.progress(done.load(), failures_seen.load());
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!worker_error) worker_error = std::current_exception();
      min_fail.store(-1);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (worker_error) std::rethrow_exception(worker_error);

  res.cases_run = folded;
  res.failures = fold_fail ? 1 : 0;
  res.complete = fold_fail.has_value() || folded == range;
  for (size_t k = 0; k < region_names.size(); ++k) res.coverage.emplace_back(region_names[k], region_counts[k]);
  res.detect_seconds = elapsed();
  res.seconds = res.detect_seconds;
  if (!fold_fail) return res;

  // Re-run the lowest failing case, shrink it, dump it.
  CampaignFailure f;
  f.case_index = begin + *fold_fail;
  f.size = campaign_size(f.case_index);
  auto shrinkable = campaign_case(op, opt.seed, f.case_index);
  LockstepResult first = op.run(shrinkable.value(), opt.run);
  f.original = first.report;
  shrink(op, shrinkable, first, opt.run, opt.shrink_evaluations, opt.interrupted, f);
  f.shrunk_values = case_values(op, f.shrunk_case);
  const std::string fuzz_cmd =
      fmt::format("lockstep fuzz --op {} --seed {} --first-case {} --cases 1 --backend {}{}", op.name(), opt.seed,
                  f.case_index, res.backend, opt.run.fault.empty() ? "" : " --fault " + opt.run.fault) +
      (impl_op ? " --impl " + res.impl_path : "");
  if (!opt.dump_dir.empty()) {
    LockstepResult minimal = op.run(f.shrunk_case, opt.run);
    const std::string stem = fmt::format("{}-{}seed{}-case{}", op.name(),
                                         opt.run.fault.empty() ? "" : opt.run.fault + "-", opt.seed, f.case_index);
    try {
      std::vector<std::pair<std::string, std::string>> info = {{"seed", std::to_string(opt.seed)},
                                                               {"case_index", std::to_string(f.case_index)},
                                                               {"fuzz_command", fuzz_cmd},
                                                               {"original_case_string", f.original.case_string}};
      if (impl_op) {  // replay needs the same plugin (oracle/replay.cpp)
        info.emplace_back("impl", res.impl_path);
        info.emplace_back("impl_name", res.impl);
        info.emplace_back("impl_capabilities", res.capabilities);
      }
      f.dump_path = write_failure_dump(op, f.shrunk_case, minimal, opt.dump_dir, stem, info);
      f.repro_command = "lockstep replay " + f.dump_path + (impl_op ? " --impl " + res.impl_path : "");
    } catch (const std::exception& e) {  // the failure, its report and its repro must still be printed
      f.dump_error = e.what();
      f.repro_command = fuzz_cmd;
    }
  } else {
    f.repro_command = fuzz_cmd;
  }
  res.seconds = elapsed();
  res.first_failure = std::move(f);
  return res;
}

CampaignResult merge_campaigns(const std::vector<CampaignResult>& shards, const std::vector<std::string>& sources) {
  require(!shards.empty(), "merge", "", "no summaries to merge");
  const CampaignResult& a = shards.front();
  auto source = [&](size_t k) { return k < sources.size() ? sources[k] : fmt::format("summary {}", k); };
  auto same = [&](size_t k, const std::string& field, const auto& mine, const auto& theirs) {
    require(mine == theirs, fmt::format("{}: {}", source(k), field), theirs,
            fmt::format("differs from {} ({}) in {}: not shards of one campaign", field, mine, source(0)));
  };
  const int64_t n = a.shard ? a.shard->count : 1;
  std::vector<const CampaignResult*> by_index(static_cast<size_t>(n), nullptr);
  std::vector<size_t> origin(static_cast<size_t>(n), 0);
  for (size_t k = 0; k < shards.size(); ++k) {
    const CampaignResult& s = shards[k];
    same(k, "op", a.op, s.op);
    same(k, "seed", a.seed, s.seed);
    same(k, "backend", a.backend, s.backend);
    same(k, "fault", a.fault, s.fault);
    same(k, "impl", a.impl, s.impl);
    same(k, "first_case", a.first_case, s.first_case);
    same(k, "cases_requested", a.cases_requested, s.cases_requested);
    const Shard sh = s.shard.value_or(Shard{});
    same(k, "shard count", n, sh.count);
    require(by_index[sh.index] == nullptr, fmt::format("{}: shard", source(k)), fmt::format("{}/{}", sh.index, n),
            fmt::format("appears twice (also in {})", source(origin[sh.index])));
    by_index[sh.index] = &s;
    origin[sh.index] = k;
  }
  for (int64_t i = 0; i < n; ++i)
    require(by_index[i] != nullptr, "merge", fmt::format("{}/{}", i, n),
            fmt::format("shard of {} (seed {}) is missing: a merge needs all {} shards", a.op, a.seed, n));

  CampaignResult m;
  m.op = a.op;
  m.seed = a.seed;
  m.backend = a.backend;
  m.fault = a.fault;
  m.impl = a.impl;
  m.impl_path = a.impl_path;
  m.capabilities = a.capabilities;
  m.first_case = a.first_case;
  m.cases_requested = a.cases_requested;
  m.complete = true;
  m.coverage = a.coverage;
  for (auto& [name, count] : m.coverage) count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const CampaignResult& s = *by_index[i];
    const size_t k = origin[i];
    const auto [begin, end] = shard_range(a.first_case, a.cases_requested, Shard{i, n});
    require(s.cases_run >= 0 && s.cases_run <= end - begin, fmt::format("{}: cases", source(k)), s.cases_run,
            fmt::format("shard {}/{} has only {} cases", i, n, end - begin));
    require(s.coverage.size() == m.coverage.size(), fmt::format("{}: coverage", source(k)), s.coverage.size(),
            fmt::format("region count differs from {} ({})", source(0), m.coverage.size()));
    for (size_t r = 0; r < m.coverage.size(); ++r) {
      same(k, "coverage region", m.coverage[r].first, s.coverage[r].first);
      m.coverage[r].second += s.coverage[r].second;
    }
    for (const StatTotal& st : s.stats) {
      auto it = std::find_if(m.stats.begin(), m.stats.end(), [&](const StatTotal& x) { return x.name == st.name; });
      if (it == m.stats.end()) it = m.stats.insert(m.stats.end(), StatTotal{st.name, 0.0, 0});
      it->sum += st.sum;
      it->cases += st.cases;
    }
    m.cases_run += s.cases_run;
    m.failures += s.failures;
    m.complete = m.complete && s.complete;
    m.seconds += s.seconds;
    m.detect_seconds += s.detect_seconds;
    if (s.first_failure) {
      require(s.first_failure->case_index >= begin && s.first_failure->case_index < end,
              fmt::format("{}: first_failure.case_index", source(k)), s.first_failure->case_index,
              fmt::format("outside shard {}/{} = cases [{}, {})", i, n, begin, end));
      m.first_failure = s.first_failure;
      break;  // later shards hold only cases past the campaign's first failure
    }
  }
  return m;
}

}  // namespace lockstep::oracle
