#include "oracle/replay.h"

#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "device/core/faults.h"
#include "oracle/impl_op.h"

namespace lockstep::oracle {
namespace {
const std::string* info_value(const h5::Dump& d, const std::string& key) {
  for (auto& [k, v] : d.info)
    if (k == key) return &v;
  return nullptr;
}

/// "case, dump or page_table_dump": the kinds `run` and `replay` read (built-in and registered).
std::string input_kinds() {
  std::vector<std::string> kinds = {"case", "dump"};
  for (const h5::FileKind& k : h5::file_kinds()) kinds.push_back(k.name);
  std::string s;
  for (size_t i = 0; i < kinds.size(); ++i) s += (i == 0 ? "" : i + 1 == kinds.size() ? " or " : ", ") + kinds[i];
  return s;
}

/// The registered op called `name`; Error naming `field` (not --op) otherwise.
const Op& op_in_file(const std::string& name, const std::string& field) {
  try {
    return find_op(name);
  } catch (const Error& e) {
    throw Error(field, name, e.reason());
  }
}
}  // namespace

LoadedCase load_case(const std::string& path, const std::string& expected_op, const LoadOptions& options) {
  const std::string f = path + ":";
  LoadedCase lc;
  lc.dump = h5::read_file(path, options.read);
  const h5::Dump& d = lc.dump;
  // case, dump, or a kind an op registered (h5::register_file_kind), which holds that op's case.
  const h5::FileKind* op_kind = h5::find_file_kind(d.kind);
  require(d.kind == "dump" || d.kind == "case" || op_kind != nullptr, f + "/kind", d.kind,
          "an input file must be of kind " + input_kinds());
  require(op_kind == nullptr || d.op == op_kind->op, f + "/op", d.op,
          op_kind ? "a " + op_kind->name + " holds op " + op_kind->op : "");
  lc.op = &op_in_file(d.op, f + "/op");
  if (!expected_op.empty()) {
    find_op(expected_op);  // an unknown --op is the flag's error
    require(d.op == expected_op, f + "/op", d.op, "does not match --op " + expected_op);
  }
  const Op& op = *lc.op;
  lc.c = op.case_from_record(d.case_fields, f + "/case");
  if (!options.allow_unknown_fields) {
    const Record known = op.case_to_record(lc.c);
    std::vector<std::string> names;
    for (const auto& [name, value] : known.fields) names.push_back(name);
    check_known_fields(d.case_fields, names, f + "/case");
  }
  try {
    op.validate(lc.c);  // a malformed file is an input error, not a lockstep failure
  } catch (const Error& e) {
    throw Error(path, "", e.what());
  }
  if (const std::string* fault = info_value(d, "fault"); fault != nullptr && !fault->empty()) {
    try {
      device::fault_id(op.name(), *fault);
    } catch (const Error& e) {
      throw Error(f + "/fault", *fault, e.reason());
    }
    lc.fault = *fault;
  }
  if (const std::string* impl = info_value(d, "impl")) lc.impl_path = *impl;
  if (const std::string* name = info_value(d, "impl_name")) lc.impl_name = *name;
  if (const std::string* backend = info_value(d, "backend"); backend != nullptr && !backend->empty()) {
    lc.backend = parse_enum<Backend>(*backend, f + "/backend");
  }
  return lc;
}

ReplayResult replay_file(const std::string& path, std::optional<Backend> backend, const LoadOptions& options,
                         std::optional<std::string> fault, std::shared_ptr<const Impl> impl) {
  const LoadedCase lc = load_case(path, "", options);
  require(impl != nullptr || lc.impl_path.empty(), path + ":/impl", lc.impl_path,
          fmt::format("the dump was recorded with an external implementation ({}): replay it with --impl {}",
                      lc.impl_name.empty() ? "unnamed" : lc.impl_name, lc.impl_path));
  RunOptions run;
  run.fault = lc.fault;
  if (fault) {
    device::fault_id(lc.op->name(), *fault);  // Error naming --fault: unknown, or another op's
    run.fault = *fault == "none" ? "" : *fault;
  }
  run.backend = backend ? *backend : lc.backend.value_or(Backend::cpu);
  ReplayResult r;
  if (impl) {
    require(run.fault.empty(), path + ":/fault", run.fault, "a fault of lockstep's own kernels cannot apply to --impl");
    const ImplOp op(*lc.op, impl);
    r.result = op.run(lc.c, run);
  } else {
    r.result = lc.op->run(lc.c, run);
  }
  r.stored_report_json = lc.dump.report_json;
  r.has_stored_report = !lc.dump.report_json.empty();
  r.identical = r.has_stored_report && to_json(r.result.report).dump() == lc.dump.report_json;
  return r;
}

SideResult run_file(const std::string& op_name, const std::string& in, const std::string& out, const std::string& which,
                    Backend device_backend, const LoadOptions& options, std::shared_ptr<const Impl> impl) {
  {
    std::error_code ec_in, ec_out, ec_eq;
    const auto canon_in = std::filesystem::weakly_canonical(in, ec_in);
    const auto canon_out = std::filesystem::weakly_canonical(out, ec_out);
    const bool same = (!ec_in && !ec_out && canon_in == canon_out) || std::filesystem::equivalent(in, out, ec_eq);
    require(!same, out, "", "--out names the input file " + in + "; refusing to overwrite it");
  }
  const LoadedCase lc = load_case(in, op_name, options);
  RunOptions run;
  run.backend = device_backend;
  h5::Dump o;
  o.kind = "outputs";
  o.op = lc.op->name();
  o.case_fields = lc.dump.case_fields;
  std::optional<ImplOp> impl_op;
  if (impl && which == "device") impl_op.emplace(*lc.op, impl);
  const Op& op = impl_op ? static_cast<const Op&>(*impl_op) : *lc.op;
  SideResult side = op.run_side(lc.c, which, run);
  o.outputs.emplace_back(which, side.outputs);
  o.info.emplace_back("case_string", lc.op->case_string(lc.c));
  o.info.emplace_back("backend", which == "device" ? enum_name(device_backend) : "reference");
  if (impl_op) {
    o.info.emplace_back("impl", impl->path());
    o.info.emplace_back("impl_name", impl->name());
  }
  o.info.emplace_back("oob_reads", oob_json(side.oob).dump());
  h5::write_file(out, o);
  return side;
}

}  // namespace lockstep::oracle
