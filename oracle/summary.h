#pragma once
/// Campaign summaries as text (one block per op, what `lockstep fuzz` prints) and as JSON (`--json`),
/// and back from JSON (`lockstep merge`). The JSON is deterministic: for one (op, seed, range, fault,
/// backend) it is identical for any --threads, and merging shard summaries reproduces the unsharded one,
/// except the timing fields `seconds`, `detect_seconds` and `cases_per_second`.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oracle/campaign.h"

namespace lockstep::oracle {

nlohmann::ordered_json summary_json(const CampaignResult& r);
/// Reads one summary written by summary_json; throws Error naming `source: field` and the value when a
/// field is missing or has the wrong type.
CampaignResult summary_from_json(const nlohmann::ordered_json& j, const std::string& source);
/// Every summary in a `lockstep --json fuzz` output file (an array of summaries, or one summary).
std::vector<CampaignResult> read_summary_file(const std::string& path);

/// The text block of one op: the result line, stats, coverage (regions reached and missing; with
/// `coverage_counts`, one line per axis with every region's counter), and the first failure with its report.
std::string summary_text(const CampaignResult& r, bool coverage_counts = false);

}  // namespace lockstep::oracle
