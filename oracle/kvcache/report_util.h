#pragma once
/// Report helpers shared by the kvcache registry entries.
#include <string>
#include <utility>
#include <vector>

#include "oracle/op.h"

namespace lockstep::oracle {

/// A report with the op, case string, backend and fault filled in.
inline Report start_report(const std::string& op, const std::string& case_string, const RunOptions& options) {
  Report rep;
  rep.op = op;
  rep.case_string = case_string;
  rep.backend = enum_name(options.backend);
  rep.fault = options.fault;
  return rep;
}

/// Compares (name, reference, device) triples exactly and records a failure per differing output.
inline void compare_exact(Report& rep, const std::vector<std::pair<const char*, std::pair<const Tensor*, const Tensor*>>>& outs) {
  for (const auto& [name, t] : outs) {
    rep.outputs.push_back(compare_tensor(name, *t.first, *t.second, Tolerance{}));
    if (!rep.outputs.back().passed) rep.fail(rep.outputs.back().name + ": " + rep.outputs.back().failure);
  }
}

}  // namespace lockstep::oracle
