#pragma once
/// Fuzz campaigns: case i of a campaign is a pure function of (op, seed, i): it is drawn from the op's
/// rapidcheck generator with Random(mix(seed, i)) at size 1 + i % 100. Cases run on `threads` workers; the
/// reported failure is the lowest failing index, so results do not depend on scheduling. A failure is
/// shrunk greedily through the generator's shrink tree and written as an HDF5 dump (atomically).
#include <any>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "oracle/op.h"

namespace lockstep::oracle {

struct CampaignOptions {
  RunOptions run;
  uint64_t seed = 1;
  int64_t first_case = 0;
  int64_t cases = 1000;
  int threads = 2;
  double time_limit_s = 0;       ///< 0 = none; stop claiming new cases after this
  int shrink_evaluations = 400;  ///< budget of lockstep runs while shrinking
  std::string dump_dir = "lockstep-dumps";  ///< "" = do not write dumps
  std::function<void(int64_t done, int64_t failures)> progress;  ///< called from workers, serialised
  const std::atomic<bool>* interrupted = nullptr;                ///< set by a SIGINT handler
};

struct CampaignFailure {
  int64_t case_index = -1;
  int size = 0;
  Report original;       ///< report of the case as generated
  Report shrunk;         ///< report of the minimal case found
  std::any shrunk_case;
  int shrink_steps = 0;  ///< accepted shrinks
  int shrink_tries = 0;  ///< lockstep runs spent shrinking
  std::string dump_path; ///< "" when no dump was written
  std::string dump_error; ///< why writing the dump failed ("" = written or not asked for)
  std::string repro_command;
};

struct CampaignResult {
  std::string op;
  uint64_t seed = 0;
  std::string fault;
  std::string backend;
  int64_t cases_run = 0;
  int64_t failures = 0;
  double seconds = 0;
  double cases_per_second() const { return seconds > 0 ? cases_run / seconds : 0; }
  std::optional<CampaignFailure> first_failure;
  /// The ops' Report::stats over the cases run: summed, except names starting with "mean_", which are
  /// averaged over the cases that report them. In first-seen order.
  std::vector<std::pair<std::string, double>> stats;
};

/// Case `index` of a campaign (deterministic).
rc::Shrinkable<std::any> campaign_case(const Op& op, uint64_t seed, int64_t index);
int campaign_size(int64_t index);

CampaignResult run_campaign(const Op& op, const CampaignOptions& options);

/// Writes a failure dump for `c` (atomic); returns its path.
std::string write_failure_dump(const Op& op, const std::any& c, const LockstepResult& result, const std::string& dir,
                               const std::string& stem, const std::vector<std::pair<std::string, std::string>>& info);

}  // namespace lockstep::oracle
