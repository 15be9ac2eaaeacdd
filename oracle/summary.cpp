#include "oracle/summary.h"

#include <cstdint>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::oracle {

nlohmann::ordered_json summary_json(const CampaignResult& r) {
  nlohmann::ordered_json e{{"op", r.op},
                           {"seed", r.seed},
                           {"backend", r.backend},
                           {"fault", r.fault},
                           {"first_case", r.first_case},
                           {"cases_requested", r.cases_requested}};
  if (r.shard) e["shard"] = fmt::format("{}/{}", r.shard->index, r.shard->count);
  if (!r.impl.empty()) e["impl"] = {{"name", r.impl}, {"path", r.impl_path}, {"capabilities", r.capabilities}};
  e["cases"] = r.cases_run;
  e["failures"] = r.failures;
  e["complete"] = r.complete;
  e["seconds"] = r.seconds;
  e["detect_seconds"] = r.detect_seconds;
  e["cases_per_second"] = r.cases_per_second();
  auto stats = nlohmann::ordered_json::object();
  auto totals = nlohmann::ordered_json::object();
  for (const StatTotal& s : r.stats) {
    stats[s.name] = s.value();
    totals[s.name] = {{"sum", s.sum}, {"cases", s.cases}};
  }
  e["stats"] = stats;
  e["stat_totals"] = totals;
  auto counts = nlohmann::ordered_json::object();
  for (const auto& [name, n] : r.coverage) counts[name] = n;
  const auto missing = r.missing_regions();
  e["coverage"] = {{"regions", r.coverage.size()},
                   {"reached", r.coverage.size() - missing.size()},
                   {"missing", missing},
                   {"counts", counts}};
  if (r.first_failure) {
    const CampaignFailure& f = *r.first_failure;
    e["first_failure"] = {{"case_index", f.case_index},        {"size", f.size},
                          {"original_case", f.original.case_string}, {"shrunk_case", f.shrunk.case_string},
                          {"shrunk_values", f.shrunk_values}, {"shrink_steps", f.shrink_steps},
                          {"shrink_tries", f.shrink_tries},    {"dump", f.dump_path},
                          {"repro", f.repro_command},          {"report", to_json(f.shrunk)}};
  }
  return e;
}

namespace {

/// Typed access to a summary's fields; every error names `source: path` and the offending value.
struct Reader {
  const std::string& source;
  const nlohmann::ordered_json& at(const nlohmann::ordered_json& j, const std::string& path, const std::string& key) const {
    const std::string field = fmt::format("{}: {}{}", source, path, key);
    require(j.is_object(), fmt::format("{}: {}", source, path.empty() ? "summary" : path), j.dump(),
            "must be a JSON object");
    require(j.contains(key), field, "", "missing (not a `lockstep --json fuzz` summary?)");
    return j.at(key);
  }
  template <class T>
  T get(const nlohmann::ordered_json& j, const std::string& path, const std::string& key) const {
    const nlohmann::ordered_json& v = at(j, path, key);
    const std::string field = fmt::format("{}: {}{}", source, path, key);
    if constexpr (std::is_same_v<T, std::string>) {
      require(v.is_string(), field, v.dump(), "must be a string");
    } else if constexpr (std::is_same_v<T, bool>) {
      require(v.is_boolean(), field, v.dump(), "must be true or false");
    } else if constexpr (std::is_floating_point_v<T>) {
      require(v.is_number(), field, v.dump(), "must be a number");
    } else if constexpr (std::is_unsigned_v<T>) {
      require(v.is_number_unsigned(), field, v.dump(), "must be a non-negative integer");
    } else {
      require(v.is_number_integer(), field, v.dump(), "must be an integer");
    }
    return v.get<T>();
  }
};

}  // namespace

CampaignResult summary_from_json(const nlohmann::ordered_json& j, const std::string& source) {
  const Reader rd{source};
  CampaignResult r;
  r.op = rd.get<std::string>(j, "", "op");
  r.seed = rd.get<uint64_t>(j, "", "seed");
  r.backend = rd.get<std::string>(j, "", "backend");
  r.fault = rd.get<std::string>(j, "", "fault");
  r.first_case = rd.get<int64_t>(j, "", "first_case");
  r.cases_requested = rd.get<int64_t>(j, "", "cases_requested");
  require(r.first_case >= 0, source + ": first_case", r.first_case, "must not be negative");
  require(r.cases_requested >= 0 && r.cases_requested <= INT64_MAX - r.first_case, source + ": cases_requested",
          r.cases_requested, "must be in [0, 2^63 - 1 - first_case]");
  if (j.contains("shard")) r.shard = parse_shard(rd.get<std::string>(j, "", "shard"), source + ": shard");
  if (j.contains("impl")) {
    const auto& im = rd.at(j, "", "impl");
    r.impl = rd.get<std::string>(im, "impl.", "name");
    r.impl_path = rd.get<std::string>(im, "impl.", "path");
    r.capabilities = rd.get<std::string>(im, "impl.", "capabilities");
  }
  r.cases_run = rd.get<int64_t>(j, "", "cases");
  r.failures = rd.get<int64_t>(j, "", "failures");
  require(r.failures == 0 || r.failures == 1, source + ": failures", r.failures, "must be 0 or 1");
  r.complete = rd.get<bool>(j, "", "complete");
  r.seconds = rd.get<double>(j, "", "seconds");
  r.detect_seconds = rd.get<double>(j, "", "detect_seconds");
  const nlohmann::ordered_json& totals = rd.at(j, "", "stat_totals");
  require(totals.is_object(), source + ": stat_totals", totals.dump(), "must be a JSON object");
  for (const auto& [name, t] : totals.items()) {
    const std::string path = "stat_totals." + name + ".";
    r.stats.push_back({name, rd.get<double>(t, path, "sum"), rd.get<int64_t>(t, path, "cases")});
    require(r.stats.back().cases >= 0, source + ": " + path + "cases", r.stats.back().cases, "must not be negative");
  }
  const nlohmann::ordered_json& cov = rd.at(j, "", "coverage");
  const nlohmann::ordered_json& counts = rd.at(cov, "coverage.", "counts");
  require(counts.is_object(), source + ": coverage.counts", counts.dump(), "must be a JSON object");
  for (const auto& [name, n] : counts.items()) {
    require(n.is_number_integer() && n.get<int64_t>() >= 0, source + ": coverage.counts." + name, n.dump(),
            "must be a non-negative integer");
    r.coverage.emplace_back(name, n.get<int64_t>());
  }
  if (j.contains("first_failure")) {
    const nlohmann::ordered_json& ff = j.at("first_failure");
    const std::string p = "first_failure.";
    CampaignFailure f;
    f.case_index = rd.get<int64_t>(ff, p, "case_index");
    f.size = rd.get<int>(ff, p, "size");
    f.original.case_string = rd.get<std::string>(ff, p, "original_case");
    f.shrunk_values = rd.get<int64_t>(ff, p, "shrunk_values");
    f.shrink_steps = rd.get<int>(ff, p, "shrink_steps");
    f.shrink_tries = rd.get<int>(ff, p, "shrink_tries");
    f.dump_path = rd.get<std::string>(ff, p, "dump");
    f.repro_command = rd.get<std::string>(ff, p, "repro");
    const nlohmann::ordered_json& report = rd.at(ff, p, "report");
    try {
      f.shrunk = report_from_json(report);
      f.shrunk.stats.clear();  // report_from_json reads them unordered: keep the file's order
      for (const auto& [k, v] : report.at("stats").items()) f.shrunk.stats.emplace_back(k, v.get<double>());
    } catch (const nlohmann::json::exception& e) {
      throw Error(source + ": first_failure.report", "", std::string("malformed report: ") + e.what());
    }
    require(f.shrunk.case_string == rd.get<std::string>(ff, p, "shrunk_case"), source + ": first_failure.shrunk_case",
            rd.get<std::string>(ff, p, "shrunk_case"), "differs from the case of its report");
    r.first_failure = std::move(f);
  }
  require(r.first_failure.has_value() == (r.failures == 1), source + ": failures", r.failures,
          r.first_failure ? "must be 1 with a first_failure" : "must be 0 without a first_failure");
  return r;
}

std::vector<CampaignResult> read_summary_file(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), path, "", "cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw Error(path, "", std::string("is not JSON (write it with `lockstep --json fuzz ...`): ") + e.what());
  }
  std::vector<CampaignResult> out;
  if (j.is_array()) {
    require(!j.empty(), path, "[]", "holds no summaries");
    for (size_t k = 0; k < j.size(); ++k) out.push_back(summary_from_json(j[k], fmt::format("{}[{}]", path, k)));
  } else {
    out.push_back(summary_from_json(j, path));
  }
  return out;
}

std::string summary_text(const CampaignResult& r, bool coverage_counts) {
  std::string s = fmt::format("{:<24} {:>7} cases  {:>5} failing  {:>8.1f} cases/s  seed {}{}{}{}\n", r.op,
                              r.cases_run, r.failures, r.cases_per_second(), r.seed,
                              r.fault.empty() ? "" : "  fault " + r.fault,
                              r.shard ? fmt::format("  shard {}/{}", r.shard->index, r.shard->count) : "",
                              r.complete ? "" : "  (incomplete)");
  if (!r.impl.empty())
    s += fmt::format("  impl {} ({}); cases restricted to its capabilities: {}\n", r.impl, r.impl_path,
                     r.capabilities);
  if (!r.stats.empty()) {
    std::string line;
    for (const StatTotal& st : r.stats) {
      const double v = st.value();
      line += v == static_cast<double>(static_cast<int64_t>(v)) ? fmt::format("  {} {}", st.name, static_cast<int64_t>(v))
                                                               : fmt::format("  {} {:.4g}", st.name, v);
    }
    s += fmt::format("  stats:{}\n", line);
  }
  const auto missing = r.missing_regions();
  s += fmt::format("  coverage: {}/{} regions reached", r.coverage.size() - missing.size(), r.coverage.size());
  if (!missing.empty()) {
    s += "; missing:";
    for (const std::string& m : missing) s += " " + m;
  }
  s += "\n";
  if (coverage_counts) {  // one line per axis: "    dtype: f32 1012, bf16 988, f16 0"
    std::string axis;
    for (const auto& [name, count] : r.coverage) {
      const size_t eq = name.find('=');
      const std::string a = name.substr(0, eq), value = eq == std::string::npos ? name : name.substr(eq + 1);
      s += a == axis ? fmt::format(", {} {}", value, count) : fmt::format("{}    {}: {} {}", axis.empty() ? "" : "\n", a, value, count);
      axis = a;
    }
    if (!axis.empty()) s += "\n";
  }
  if (r.first_failure) {
    const CampaignFailure& f = *r.first_failure;
    s += fmt::format("  first failure: case {} (size {}), shrunk in {} steps ({} runs) to:\n", f.case_index, f.size,
                     f.shrink_steps, f.shrink_tries);
    s += to_text(f.shrunk);
    if (!f.dump_path.empty()) s += fmt::format("  dump: {}\n", f.dump_path);
    if (!f.dump_error.empty()) s += fmt::format("  dump: not written: {}\n", escape_control(f.dump_error));
    s += fmt::format("  reproduce: {}\n", f.repro_command);
  }
  return s;
}

}  // namespace lockstep::oracle
