#pragma once
/// The fault zoo: one fuzz campaign per named fault (device/core/faults.h) of every op in the registry,
/// each reporting whether the fault was detected, after how many cases and seconds, and how small the
/// shrunk counterexample is. `lockstep zoo` prints it as a table, JSON or Markdown.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oracle/campaign.h"

namespace lockstep::oracle {

struct ZooRow {
  std::string op;
  std::string fault;
  std::string models;       ///< the seed bug it models: the fault description up to its first ':'
  std::string description;  ///< the whole fault description
  CampaignResult campaign;
  bool detected() const { return campaign.first_failure.has_value(); }
  /// Cases run up to and including the first failing one (the whole count when undetected).
  int64_t cases_to_detect() const { return campaign.cases_run; }
};

/// Runs a campaign with each fault of each op in `ops` (registry order, faults in their listing order);
/// `base` supplies seed, cases, threads, backend, shrink budget, dump directory and interruption.
/// `on_start(row_index, rows, op, fault)` is called before each campaign.
std::vector<ZooRow> run_zoo(const std::vector<const Op*>& ops, const CampaignOptions& base,
                            const std::function<void(size_t, size_t, const std::string&, const std::string&)>& on_start = {});

nlohmann::ordered_json zoo_json(const std::vector<ZooRow>& rows);
std::string zoo_text(const std::vector<ZooRow>& rows);
std::string zoo_markdown(const std::vector<ZooRow>& rows);

}  // namespace lockstep::oracle
