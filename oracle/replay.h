#pragma once
/// Replay of HDF5 files: a failure dump (kind "dump") or a case written by anyone (kind "case").
#include <any>
#include <optional>
#include <string>

#include "oracle/h5io.h"
#include "oracle/op.h"

namespace lockstep::oracle {

/// How `run` and `replay` load an input file (both accept exactly the same files).
struct LoadOptions {
  h5::ReadOptions read;               ///< budget, isolation, timeout
  bool allow_unknown_fields = false;  ///< accept /case fields the op does not have (forward compatibility)
};

/// An input file, checked: a case, dump or page_table_dump whose @op names a registered op (the one
/// `expected_op` names when given), whose /case holds only that op's fields (unless allowed) and
/// passes the op's validate(), and whose @fault / @backend, when present, are valid for it.
struct LoadedCase {
  h5::Dump dump;
  const Op* op = nullptr;
  std::any c;
  std::string fault;               ///< @fault ("" = none)
  std::optional<Backend> backend;  ///< @backend, when recorded
  std::string impl_path, impl_name;  ///< @impl / @impl_name: the external implementation it was recorded with
};

/// Throws Error naming `path` and the object for every problem (never the command-line flag).
LoadedCase load_case(const std::string& path, const std::string& expected_op, const LoadOptions& options);

struct ReplayResult {
  LockstepResult result;
  bool has_stored_report = false;
  bool identical = false;  ///< the new report's JSON equals the stored one byte for byte
  std::string stored_report_json;
};

/// Re-runs the case in `path` in lockstep with the backend and fault recorded in the file (a backend or
/// fault given here overrides the recorded one; fault "none" or "" = no fault). Throws Error for unreadable
/// files or cases, and for a `fault` the file's op does not have (naming `--fault`).
///
/// A dump recorded with an external implementation (@impl) replays only with one (`impl`, --impl): without
/// it, Error naming the recorded plugin. With `impl`, the plugin is the device side (any case file); a fault
/// of lockstep's own kernels cannot apply to it (`--fault none` clears a recorded one).
ReplayResult replay_file(const std::string& path, std::optional<Backend> backend = std::nullopt,
                         const LoadOptions& options = {}, std::optional<std::string> fault = std::nullopt,
                         std::shared_ptr<const Impl> impl = nullptr);

/// `lockstep run`: runs one side ("reference" or "device") on the case in `in` and writes an
/// "outputs" file to `out` (atomically; `out` must not be `in`), with the side's out-of-range page reads
/// in its `oob_reads` attribute (JSON, the report's format). Returns the side's result (outputs and OOB
/// reads).
SideResult run_file(const std::string& op_name, const std::string& in, const std::string& out, const std::string& which,
                    Backend device_backend, const LoadOptions& options = {},
                    std::shared_ptr<const Impl> impl = nullptr);

}  // namespace lockstep::oracle
