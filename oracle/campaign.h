#pragma once
/// Fuzz campaigns: case i of a campaign is a pure function of (op, seed, i): it is drawn from the op's
/// rapidcheck generator with Random(mix(seed, i)) at size 1 + i % 100. Cases run on `threads` workers.
///
/// **Deterministic summaries.** A campaign reports exactly a *prefix* of its case range: every case below
/// the lowest failing index plus that case (or the whole range when nothing fails). Per-case outcomes are
/// folded in index order (a small reorder buffer behind the workers), so counts, stats, coverage counters
/// and the first failure are identical for any number of threads; only the timing fields differ. Cases a
/// worker finished past the first failure (or past a gap left by --time-limit / Ctrl-C) are not reported.
///
/// **Sharding.** `shard` {K, N} runs the K-th of N contiguous slices of [first_case, first_case + cases)
/// (slice K = [first + floor(K*cases/N), first + floor((K+1)*cases/N)): no gaps, no overlaps), and
/// merge_campaigns() combines the N summaries into exactly the summary of the unsharded run.
///
/// **Exact stats.** Each case's stat values are rounded to a multiple of 2^-20 before they are summed,
/// so every partial sum is exact (while |sum| < 2^33 for fractional stats, 2^53 for integer ones) and
/// sums over any partition of the cases (threads, shards) agree bit for bit.
///
/// A failure is shrunk greedily through the generator's shrink tree and written as an HDF5 dump
/// (atomically).
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

/// Shard K of N (0 <= K < N).
struct Shard {
  int64_t index = 0;
  int64_t count = 1;
  bool operator==(const Shard&) const = default;
};

/// Parses "K/N" (0-based K, 0 <= K < N); throws Error naming `flag` otherwise.
Shard parse_shard(const std::string& text, const std::string& flag = "--shard");
/// The case indices [begin, end) of `shard` of the campaign range [first_case, first_case + cases).
std::pair<int64_t, int64_t> shard_range(int64_t first_case, int64_t cases, const Shard& shard);

struct CampaignOptions {
  RunOptions run;
  uint64_t seed = 1;
  int64_t first_case = 0;
  int64_t cases = 1000;  ///< the whole campaign's range; a shard runs its slice of it
  std::optional<Shard> shard;  ///< none = the whole range (recorded in the summary when set, even 0/1)
  int threads = 2;
  double time_limit_s = 0;       ///< 0 = none; stop claiming new cases after this
  int shrink_evaluations = 400;  ///< budget of lockstep runs while shrinking
  std::string dump_dir = "lockstep-dumps";  ///< "" = do not write dumps
  /// Called from workers (serialised) after each case: cases finished and failing cases seen so far.
  std::function<void(int64_t done, int64_t failures)> progress;
  const std::atomic<bool>* interrupted = nullptr;  ///< set by a SIGINT handler
};

struct CampaignFailure {
  int64_t case_index = -1;
  int size = 0;
  Report original;       ///< report of the case as generated (JSON round trip keeps only its case string)
  Report shrunk;         ///< report of the minimal case found
  std::any shrunk_case;  ///< empty in a summary read back from JSON
  int64_t shrunk_values = 0;  ///< size of the shrunk case: tensor elements + one per scalar field
  int shrink_steps = 0;  ///< accepted shrinks
  int shrink_tries = 0;  ///< lockstep runs spent shrinking
  std::string dump_path; ///< "" when no dump was written
  std::string dump_error; ///< why writing the dump failed ("" = written or not asked for)
  std::string repro_command;
};

/// One stat accumulated over a campaign: the sum of the (2^-20-rounded) per-case values and the number
/// of cases that reported it. Names starting with "mean_" are reported as sum / cases, others as sum.
struct StatTotal {
  std::string name;
  double sum = 0;
  int64_t cases = 0;
  double value() const;
};

struct CampaignResult {
  std::string op;
  uint64_t seed = 0;
  std::string fault;
  std::string backend;
  /// --impl: the external implementation's name and path and the capabilities generation stayed inside
  /// ("" without one).
  std::string impl, impl_path, capabilities;
  int64_t first_case = 0;        ///< the whole campaign's range (all shards)
  int64_t cases_requested = 0;
  std::optional<Shard> shard;    ///< set for a shard's summary; merged and unsharded summaries have none
  int64_t cases_run = 0;         ///< a prefix of the (shard's) range, see the file comment
  int64_t failures = 0;          ///< failing cases in that prefix: 0 or 1 (the last one)
  /// Every case of the range ran, or the run stopped at its first failure (false after --time-limit or
  /// Ctrl-C cut it short).
  bool complete = true;
  double seconds = 0;            ///< timing: the whole campaign, shrinking and dumping included
  double detect_seconds = 0;     ///< timing: until the cases stopped (before shrinking)
  double cases_per_second() const { return seconds > 0 ? cases_run / seconds : 0; }
  std::optional<CampaignFailure> first_failure;
  std::vector<StatTotal> stats;  ///< the ops' Report::stats, in first-seen (case index) order
  /// Coverage: the op's declared regions and how many reported cases reached each.
  std::vector<std::pair<std::string, int64_t>> coverage;
  std::vector<std::string> missing_regions() const;
};

/// Case `index` of a campaign (deterministic).
rc::Shrinkable<std::any> campaign_case(const Op& op, uint64_t seed, int64_t index);
int campaign_size(int64_t index);

/// Runs the campaign (or its shard). Throws Error for bad options (shard out of range, negative counts).
CampaignResult run_campaign(const Op& op, const CampaignOptions& options);

/// The size of a (shrunk) counterexample: its values, i.e. tensor elements plus one per scalar field.
int64_t case_values(const Op& op, const std::any& c);

/// Combines the summaries of shards 0..N-1 of one campaign (same op, seed, backend, fault, range and N;
/// any order) into the summary of the unsharded campaign: shards are taken in index order up to and
/// including the first one that failed (its first failure is the campaign's: the lowest failing index),
/// counts, stat sums and coverage counters are added, timings summed. Throws Error naming the field and
/// the value when the summaries do not fit together (`source` names each summary's origin).
CampaignResult merge_campaigns(const std::vector<CampaignResult>& shards, const std::vector<std::string>& sources);

/// Writes a failure dump for `c` (atomic); returns its path.
std::string write_failure_dump(const Op& op, const std::any& c, const LockstepResult& result, const std::string& dir,
                               const std::string& stem, const std::vector<std::pair<std::string, std::string>>& info);

}  // namespace lockstep::oracle
