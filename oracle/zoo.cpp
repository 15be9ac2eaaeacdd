#include "oracle/zoo.h"

#include <algorithm>

#include <fmt/format.h>

#include "device/core/faults.h"

namespace lockstep::oracle {

std::vector<ZooRow> run_zoo(const std::vector<const Op*>& ops, const CampaignOptions& base,
                            const std::function<void(size_t, size_t, const std::string&, const std::string&)>& on_start) {
  std::vector<std::pair<const Op*, const device::FaultInfo*>> plan;
  for (const Op* op : ops)
    for (const device::FaultInfo& f : device::all_faults())
      if (f.op == op->name()) plan.emplace_back(op, &f);
  std::vector<ZooRow> rows;
  for (size_t k = 0; k < plan.size(); ++k) {
    if (base.interrupted && base.interrupted->load()) break;
    const auto [op, fault] = plan[k];
    if (on_start) on_start(k, plan.size(), op->name(), fault->name);
    CampaignOptions o = base;
    o.run.fault = fault->name;
    ZooRow row;
    row.op = op->name();
    row.fault = fault->name;
    row.description = fault->description;
    const std::string d = fault->description;
    row.models = d.substr(0, d.find(':'));
    row.campaign = run_campaign(*op, o);
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::ordered_json zoo_json(const std::vector<ZooRow>& rows) {
  auto arr = nlohmann::ordered_json::array();
  for (const ZooRow& r : rows) {
    const CampaignResult& c = r.campaign;
    nlohmann::ordered_json e{{"op", r.op},
                             {"fault", r.fault},
                             {"models", r.models},
                             {"description", r.description},
                             {"detected", r.detected()},
                             {"cases_to_detect", r.detected() ? nlohmann::ordered_json(r.cases_to_detect()) : nullptr},
                             {"seconds_to_detect", r.detected() ? nlohmann::ordered_json(c.detect_seconds) : nullptr},
                             {"cases_run", c.cases_run},
                             {"seconds", c.seconds},
                             {"seed", c.seed}};
    if (c.first_failure) {
      const CampaignFailure& f = *c.first_failure;
      e["case_index"] = f.case_index;
      e["shrunk_values"] = f.shrunk_values;
      e["shrink_steps"] = f.shrink_steps;
      e["shrink_tries"] = f.shrink_tries;
      e["shrunk_case"] = f.shrunk.case_string;
      e["dump"] = f.dump_path;
      e["repro"] = f.repro_command;
    }
    arr.push_back(e);
  }
  return arr;
}

namespace {


std::vector<std::string> headers() {
  return {"op", "fault", "models", "detected", "cases", "seconds", "shrunk size", "dump"};
}

std::vector<std::vector<std::string>> cells(const std::vector<ZooRow>& rows) {
  std::vector<std::vector<std::string>> out;
  for (const ZooRow& r : rows) {
    const CampaignResult& c = r.campaign;
    if (r.detected()) {
      const CampaignFailure& f = *c.first_failure;
      out.push_back({r.op, r.fault, r.models, "yes", std::to_string(r.cases_to_detect()),
                     fmt::format("{:.3f}", c.detect_seconds), std::to_string(f.shrunk_values),
                     f.dump_path.empty() ? "-" : f.dump_path});
    } else {
      out.push_back({r.op, r.fault, r.models, "NO", fmt::format(">{}", c.cases_run), fmt::format("{:.3f}", c.seconds),
                     "-", "-"});
    }
  }
  return out;
}

std::string footer(const std::vector<ZooRow>& rows) {
  size_t detected = 0;
  double seconds = 0;
  for (const ZooRow& r : rows) {
    detected += r.detected() ? 1 : 0;
    seconds += r.campaign.seconds;
  }
  return fmt::format("{}/{} faults detected, {:.1f} s of campaigns (shrinking and dumps included)", detected,
                     rows.size(), seconds);
}

}  // namespace

std::string zoo_text(const std::vector<ZooRow>& rows) {
  const auto h = headers();
  const auto body = cells(rows);
  std::vector<size_t> width(h.size());
  for (size_t k = 0; k < h.size(); ++k) {
    width[k] = h[k].size();
    for (const auto& row : body) width[k] = std::max(width[k], row[k].size());
  }
  const std::vector<bool> right = {false, false, false, false, true, true, true, false};
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (size_t k = 0; k < row.size(); ++k) {
      const bool last = k + 1 == row.size();
      s += right[k] ? fmt::format("{:>{}}", row[k], width[k]) : last ? row[k] : fmt::format("{:<{}}", row[k], width[k]);
      if (!last) s += "  ";
    }
    return s + "\n";
  };
  std::string s = line(h);
  for (const auto& row : body) s += line(row);
  return s + footer(rows) + "\n";
}

std::string zoo_markdown(const std::vector<ZooRow>& rows) {
  const auto h = headers();
  std::string s = "|";
  for (const auto& x : h) s += " " + x + " |";
  s += "\n|";
  const std::vector<bool> right = {false, false, false, false, true, true, true, false};
  for (size_t k = 0; k < h.size(); ++k) s += right[k] ? " ---: |" : " --- |";
  s += "\n";
  for (const auto& row : cells(rows)) {
    s += "|";
    for (size_t k = 0; k < row.size(); ++k) {
      const bool code = k == 1 || (k == 7 && row[k] != "-");
      s += " " + (code ? "`" + row[k] + "`" : row[k]) + " |";
    }
    s += "\n";
  }
  return s + "\n" + footer(rows) + "\n";
}

}  // namespace lockstep::oracle
