#include "oracle/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace lockstep::oracle {
nlohmann::ordered_json oob_json(const std::vector<OobRead>& v) {
  auto arr = nlohmann::ordered_json::array();
  for (const OobRead& o : v)
    arr.push_back({{"seq", o.seq}, {"token", o.token}, {"slot", o.slot}, {"page", o.page}, {"bound", o.bound}});
  return arr;
}

namespace {

std::vector<OobRead> oob_from(const nlohmann::json& arr) {
  std::vector<OobRead> v;
  for (const auto& o : arr)
    v.push_back({o.at("seq").get<int32_t>(), o.at("token").get<int32_t>(), o.at("slot").get<int32_t>(),
                 o.at("page").get<int32_t>(), o.at("bound").get<int32_t>()});
  return v;
}

}  // namespace

std::string oob_line(const OobRead& o) {
  // Rows of a black-box implementation's poisoned reads (oracle/impl_poison.h): an unreferenced page, or a
  // stale entry whose value is in range.
  if (o.slot < 0) return fmt::format("page {}: poisoned, no valid page-table entry references it", o.page);
  if (o.seq < 0)
    return fmt::format("page_indices[{}] = {}, a stale trailing entry (read through poisoning)", o.slot, o.page);
  if (o.page >= 0 && o.page < o.bound)
    return fmt::format("seq {} token {}: page_indices[{}] = {}, a stale entry (read through poisoning)", o.seq, o.token,
                       o.slot, o.page);
  return fmt::format("seq {} token {}: page_indices[{}] = {} outside [0, {})", o.seq, o.token, o.slot, o.page, o.bound);
}

nlohmann::ordered_json to_json(const Report& r) {
  nlohmann::ordered_json j;
  j["op"] = r.op;
  j["case"] = r.case_string;
  j["backend"] = r.backend;
  j["fault"] = r.fault;
  if (!r.impl.empty()) j["impl"] = r.impl;
  j["passed"] = r.passed;
  j["failures"] = r.failures;
  j["error"] = r.error;
  j["inputs_modified"] = r.inputs_modified;
  j["modified_field"] = r.modified_field;
  auto outs = nlohmann::ordered_json::array();
  for (const TensorDiff& d : r.outputs) {
    outs.push_back({{"name", d.name},
                    {"passed", d.passed},
                    {"failure", d.failure},
                    {"mismatches", d.mismatches},
                    {"worst_index", d.worst_index},
                    {"worst_coord", d.worst_coord},
                    {"worst_ref", d.worst_ref},
                    {"worst_dev", d.worst_dev},
                    {"max_abs", d.max_abs},
                    {"max_rel", d.max_rel},
                    {"nmse", d.nmse},
                    {"atol", d.tol.atol},
                    {"rtol", d.tol.rtol}});
  }
  j["outputs"] = outs;
  j["device_oob"] = oob_json(r.device_oob);
  j["reference_oob"] = oob_json(r.reference_oob);
  j["oob_dropped"] = r.oob_dropped;
  auto stats = nlohmann::ordered_json::object();
  for (auto& [k, v] : r.stats) stats[k] = v;
  j["stats"] = stats;
  if (!r.notes.empty()) j["notes"] = r.notes;
  return j;
}

Report report_from_json(const nlohmann::json& j) {
  Report r;
  r.op = j.at("op");
  r.case_string = j.at("case");
  r.backend = j.at("backend");
  r.fault = j.at("fault");
  r.passed = j.at("passed");
  r.failures = j.at("failures").get<std::vector<std::string>>();
  r.error = j.at("error");
  r.inputs_modified = j.at("inputs_modified");
  r.modified_field = j.at("modified_field");
  for (const auto& o : j.at("outputs")) {
    TensorDiff d;
    d.name = o.at("name");
    d.passed = o.at("passed");
    d.failure = o.at("failure");
    d.mismatches = o.at("mismatches");
    d.worst_index = o.at("worst_index");
    d.worst_coord = o.at("worst_coord").get<std::vector<int64_t>>();
    d.worst_ref = o.at("worst_ref");
    d.worst_dev = o.at("worst_dev");
    d.max_abs = o.at("max_abs");
    d.max_rel = o.at("max_rel");
    d.nmse = o.at("nmse");
    d.tol = {o.at("atol").get<double>(), o.at("rtol").get<double>()};
    r.outputs.push_back(d);
  }
  r.device_oob = oob_from(j.at("device_oob"));
  r.reference_oob = oob_from(j.at("reference_oob"));
  r.oob_dropped = j.at("oob_dropped");
  for (auto& [k, v] : j.at("stats").items()) r.stats.emplace_back(k, v.get<double>());
  if (j.contains("impl")) r.impl = j.at("impl").get<std::string>();
  if (j.contains("notes")) r.notes = j.at("notes").get<std::vector<std::string>>();
  return r;
}

std::string to_text(const Report& r) {
  std::string s = fmt::format("{} {}\n", r.passed ? "PASS" : "FAIL", r.case_string);
  if (r.impl.empty())
    s += fmt::format("  backend {}{}\n", r.backend, r.fault.empty() ? "" : fmt::format(", fault {}", r.fault));
  else
    s += fmt::format("  device side: impl {}\n", r.impl);
  if (!r.error.empty()) s += fmt::format("  error: {}\n", r.error);
  for (const std::string& f : r.failures) s += fmt::format("  failure: {}\n", f);
  if (r.inputs_modified) s += fmt::format("  inputs modified by the device run: {}\n", r.modified_field);
  for (const TensorDiff& d : r.outputs) {
    s += fmt::format("  {:<10} {}  max_abs {:.6g}  max_rel {:.6g}  nmse {:.6g}", d.name, d.passed ? "ok  " : "FAIL",
                     d.max_abs, d.max_rel, d.nmse);
    if (d.worst_index >= 0) {
      s += fmt::format("  worst [{}] ref {:.9g} dev {:.9g}", fmt::join(d.worst_coord, ","), d.worst_ref, d.worst_dev);
    }
    s += "\n";
    if (!d.passed) s += fmt::format("             {}\n", d.failure);
  }
  for (const OobRead& o : r.device_oob) s += "  device OOB read: " + oob_line(o) + "\n";
  for (const OobRead& o : r.reference_oob) s += "  reference OOB read: " + oob_line(o) + "\n";
  if (r.oob_dropped > 0) s += fmt::format("  ({} more OOB records dropped)\n", r.oob_dropped);
  for (const std::string& n : r.notes) s += fmt::format("  note: {}\n", n);
  return s;
}

}  // namespace lockstep::oracle
