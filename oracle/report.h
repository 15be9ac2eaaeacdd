#pragma once
/// The result of running one case in lockstep: per-output comparisons, OOB page reads, and the
/// failures in the order they were checked. Text and JSON forms are deterministic (doubles printed
/// round-trip exact), so a replay can be checked to reproduce a report bit for bit.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/oob.h"
#include "oracle/compare.h"

namespace lockstep::oracle {

struct Report {
  std::string op;
  std::string case_string;
  std::string backend;
  std::string fault;
  std::string impl;  ///< the external implementation's name (--impl; JSON key only when set): the device side
  bool passed = true;
  std::vector<std::string> failures;  ///< in check order; empty when passed
  std::string error;                  ///< an exception from validation or a backend
  bool inputs_modified = false;
  std::string modified_field;
  std::vector<TensorDiff> outputs;
  std::vector<OobRead> device_oob;
  std::vector<OobRead> reference_oob;
  int64_t oob_dropped = 0;
  std::vector<std::pair<std::string, double>> stats;  ///< op-specific figures (informational)
  std::vector<std::string> notes;  ///< op-specific findings that are not failures (JSON key only when non-empty)

  void fail(std::string why) {
    passed = false;
    failures.push_back(std::move(why));
  }
};

nlohmann::ordered_json to_json(const Report& r);
Report report_from_json(const nlohmann::json& j);
/// OOB reads as the report's JSON stores them: [{"seq", "token", "slot", "page", "bound"}, ...].
nlohmann::ordered_json oob_json(const std::vector<OobRead>& v);
/// "seq 0 token 4: page_indices[1] = 99 outside [0, 3)": one out-of-range page read, as reports print it.
std::string oob_line(const OobRead& o);
/// Multi-line human-readable report; the first line is PASS/FAIL with the case string.
std::string to_text(const Report& r);

}  // namespace lockstep::oracle
