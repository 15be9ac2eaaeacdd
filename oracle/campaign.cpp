#include "oracle/campaign.h"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "oracle/h5io.h"

namespace lockstep::oracle {

int campaign_size(int64_t index) { return 1 + static_cast<int>(index % 100); }

rc::Shrinkable<std::any> campaign_case(const Op& op, uint64_t seed, int64_t index) {
  uint64_t key = seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(index) * 0xbf58476d1ce4e5b9ull + 0x1234567ull;
  return op.generator()(rc::Random(key), campaign_size(index));
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
  d.info.emplace_back("repro_command", "lockstep replay " + path);
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

}  // namespace

CampaignResult run_campaign(const Op& op, const CampaignOptions& opt) {
  CampaignResult res;
  res.op = op.name();
  res.seed = opt.seed;
  res.fault = opt.run.fault;
  res.backend = enum_name(opt.run.backend);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  std::atomic<int64_t> next{0}, done{0}, failures{0};
  std::atomic<int64_t> min_fail{INT64_MAX};
  std::vector<std::pair<std::string, double>> stat_sums;
  std::vector<int64_t> stat_counts;
  std::mutex mu, generation_mu;
  std::exception_ptr worker_error;
  const int threads = std::max(1, opt.threads);

  auto worker = [&] {
    try {
      for (;;) {
        if (opt.interrupted && opt.interrupted->load()) return;
        if (opt.time_limit_s > 0 && elapsed() > opt.time_limit_s) return;
        const int64_t i = next.fetch_add(1);
        if (i >= opt.cases || i >= min_fail.load()) return;
        const int64_t index = opt.first_case + i;
        std::any c;
        {
          // rapidcheck's generation context is process-global: draw cases one thread at a time.
          std::lock_guard<std::mutex> lock(generation_mu);
          c = campaign_case(op, opt.seed, index).value();
        }
        LockstepResult r = op.run(c, opt.run);
        ++done;
        if (!r.report.stats.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& [name, value] : r.report.stats) {
            size_t k = 0;
            while (k < stat_sums.size() && stat_sums[k].first != name) ++k;
            if (k == stat_sums.size()) {
              stat_sums.emplace_back(name, 0.0);
              stat_counts.push_back(0);
            }
            stat_sums[k].second += value;
            ++stat_counts[k];
          }
        }
        if (!r.report.passed) {
          ++failures;
          int64_t cur = min_fail.load();
          while (i < cur && !min_fail.compare_exchange_weak(cur, i)) {
          }
        }
        if (opt.progress) {
          std::lock_guard<std::mutex> lock(mu);
          opt.progress(done.load(), failures.load());
        }
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

  res.cases_run = done.load();
  res.failures = failures.load();
  res.seconds = elapsed();
  for (size_t k = 0; k < stat_sums.size(); ++k) {
    const bool mean = stat_sums[k].first.rfind("mean_", 0) == 0;
    res.stats.emplace_back(stat_sums[k].first, mean ? stat_sums[k].second / stat_counts[k] : stat_sums[k].second);
  }
  if (min_fail.load() == INT64_MAX) return res;

  // Re-run the lowest failing case, shrink it, dump it.
  CampaignFailure f;
  f.case_index = opt.first_case + min_fail.load();
  f.size = campaign_size(f.case_index);
  auto shrinkable = campaign_case(op, opt.seed, f.case_index);
  LockstepResult first = op.run(shrinkable.value(), opt.run);
  f.original = first.report;
  shrink(op, shrinkable, first, opt.run, opt.shrink_evaluations, opt.interrupted, f);
  const std::string fuzz_cmd =
      fmt::format("lockstep fuzz --op {} --seed {} --first-case {} --cases 1 --backend {}{}", op.name(), opt.seed,
                  f.case_index, res.backend, opt.run.fault.empty() ? "" : " --fault " + opt.run.fault);
  if (!opt.dump_dir.empty()) {
    LockstepResult minimal = op.run(f.shrunk_case, opt.run);
    const std::string stem = fmt::format("{}-{}seed{}-case{}", op.name(),
                                         opt.run.fault.empty() ? "" : opt.run.fault + "-", opt.seed, f.case_index);
    try {
      f.dump_path = write_failure_dump(op, f.shrunk_case, minimal, opt.dump_dir, stem,
                                       {{"seed", std::to_string(opt.seed)},
                                        {"case_index", std::to_string(f.case_index)},
                                        {"fuzz_command", fuzz_cmd},
                                        {"original_case_string", f.original.case_string}});
      f.repro_command = "lockstep replay " + f.dump_path;
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

}  // namespace lockstep::oracle
