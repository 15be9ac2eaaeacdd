#pragma once
/// Replay of HDF5 files: a failure dump (kind "dump") or a case written by anyone (kind "case").
#include <optional>
#include <string>

#include "oracle/op.h"

namespace lockstep::oracle {

struct ReplayResult {
  LockstepResult result;
  bool has_stored_report = false;
  bool identical = false;  ///< the new report's JSON equals the stored one byte for byte
  std::string stored_report_json;
};

/// Re-runs the case in `path` in lockstep with the backend and fault recorded in the file (a backend
/// given here overrides the recorded one). Throws Error for unreadable files or cases.
ReplayResult replay_file(const std::string& path, std::optional<Backend> backend = std::nullopt);

/// `lockstep run`: runs one side ("reference" or "device") on the case in `in` and writes an
/// "outputs" file to `out` (atomically), with the side's out-of-range page reads in its `oob_reads`
/// attribute (JSON, the report's format). Returns the side's result (outputs and OOB reads).
SideResult run_file(const std::string& op_name, const std::string& in, const std::string& out, const std::string& which,
                    Backend device_backend);

}  // namespace lockstep::oracle
