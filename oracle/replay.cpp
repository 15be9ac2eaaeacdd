#include "oracle/replay.h"

#include "core/error.h"
#include "oracle/h5io.h"

namespace lockstep::oracle {
namespace {
std::string info_value(const h5::Dump& d, const std::string& key) {
  for (auto& [k, v] : d.info)
    if (k == key) return v;
  return "";
}
void validate_in_file(const Op& op, const std::any& c, const std::string& path) {
  try {
    op.validate(c);
  } catch (const Error& e) {
    throw Error(path, "", e.what());
  }
}
}  // namespace

ReplayResult replay_file(const std::string& path, std::optional<Backend> backend) {
  const h5::Dump d = h5::read_file(path);
  require(d.kind == "dump" || d.kind == "case" || d.kind == "page_table_dump", path + ":/kind", d.kind,
          "replay needs a file of kind dump, case or page_table_dump");
  require(d.kind != "page_table_dump" || d.op == "page_table", path + ":/op", d.op,
          "a page_table_dump holds op page_table");
  const Op& op = find_op(d.op);
  const std::any c = op.case_from_record(d.case_fields, path + ":/case");
  validate_in_file(op, c, path);  // a malformed file is an input error, not a lockstep failure
  RunOptions run;
  run.fault = info_value(d, "fault");
  const std::string recorded = info_value(d, "backend");
  run.backend = backend ? *backend : recorded.empty() ? Backend::cpu : parse_enum<Backend>(recorded, path + ":/backend");
  ReplayResult r;
  r.result = op.run(c, run);
  r.stored_report_json = d.report_json;
  r.has_stored_report = !d.report_json.empty();
  r.identical = r.has_stored_report && to_json(r.result.report).dump() == d.report_json;
  return r;
}

SideResult run_file(const std::string& op_name, const std::string& in, const std::string& out, const std::string& which,
                    Backend device_backend) {
  const h5::Dump d = h5::read_file(in);
  const std::string name = op_name.empty() ? d.op : op_name;
  require(d.op.empty() || d.op == name, in + ":/op", d.op, "does not match --op " + name);
  const Op& op = find_op(name);
  const std::any c = op.case_from_record(d.case_fields, in + ":/case");
  validate_in_file(op, c, in);
  RunOptions run;
  run.backend = device_backend;
  h5::Dump o;
  o.kind = "outputs";
  o.op = name;
  o.case_fields = d.case_fields;
  SideResult side = op.run_side(c, which, run);
  o.outputs.emplace_back(which, side.outputs);
  o.info.emplace_back("case_string", op.case_string(c));
  o.info.emplace_back("backend", which == "device" ? enum_name(device_backend) : "reference");
  o.info.emplace_back("oob_reads", oob_json(side.oob).dump());
  h5::write_file(out, o);
  return side;
}

}  // namespace lockstep::oracle
