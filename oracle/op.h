#pragma once
/// The op registry: one entry per op with its name, case type, generator, reference, device and
/// comparison rule (the rows: oracle/registry.cpp; the generic entry: oracle/lockstep_op.h). The CLI, the fuzz driver, replay and the tests see ops only through this interface.
#include <any>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <rapidcheck.h>

#include "core/error.h"
#include "core/record.h"
#include "device/core/backend.h"
#include "device/core/faults.h"
#include "oracle/impl.h"
#include "oracle/report.h"

namespace lockstep::oracle {

struct RunOptions {
  Backend backend = Backend::cpu;
  std::string fault;  ///< fault name ("" = none)
  /// An external implementation (--impl) replacing the device side; null = lockstep's own device kernels.
  std::shared_ptr<const Impl> impl = nullptr;
};

/// One field of a case or outputs type, as its fields() describes it (`lockstep ops --abi`, capabilities).
struct FieldInfo {
  std::string name;
  std::string kind;                      ///< "int", "real", "enum", "string" or "tensor"
  std::vector<std::string> enum_values;  ///< kind "enum": the names, in value order
  bool has_range = false;
  IntRange range{0, 0};
  Rule rule;  ///< outputs: the comparison rule
};

namespace detail {
struct FieldInfoVisitor {
  std::vector<FieldInfo> fields;
  template <class F, class... Extra>
  void operator()(const char* name, F&, const Extra&... extra) {
    FieldInfo fi{name, "", {}, false, {0, 0}, rule_of(extra...)};
    [[maybe_unused]] auto take = [&fi](const auto& e) {
      if constexpr (std::is_same_v<std::decay_t<decltype(e)>, IntRange>) {
        fi.has_range = true;
        fi.range = e;
      }
    };
    (take(extra), ...);
    if constexpr (std::is_same_v<F, Tensor>) {
      fi.kind = "tensor";
    } else if constexpr (NamedEnum<F>) {
      fi.kind = "enum";
      for (const char* n : EnumNames<F>::names) fi.enum_values.emplace_back(n);
    } else if constexpr (std::is_same_v<F, std::string>) {
      fi.kind = "string";
    } else if constexpr (std::is_same_v<F, double>) {
      fi.kind = "real";
    } else {
      fi.kind = "int";
    }
    fields.push_back(std::move(fi));
  }
};
}  // namespace detail

/// The fields of a (default-constructible) field-described type.
template <class Obj>
std::vector<FieldInfo> field_infos() {
  Obj o{};
  detail::FieldInfoVisitor v;
  o.fields(v);
  return std::move(v.fields);
}

/// One side run alone (`lockstep run`): its outputs and the out-of-range page reads it recorded (reads
/// returned zeros, writes were dropped). Ops without a paged accessor record none.
struct SideResult {
  Record outputs;
  std::vector<OobRead> oob;
  int64_t oob_dropped = 0;  ///< records lost to the device log's capacity
};

struct LockstepResult {
  Report report;
  Record reference_outputs;  ///< empty when the reference threw
  Record device_outputs;     ///< empty when the device threw
};

class Op {
 public:
  virtual ~Op() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  /// Generator of type-erased cases (std::any holding the op's case type).
  virtual rc::Gen<std::any> generator() const = 0;
  virtual std::any case_from_record(const Record& r, const std::string& path) const = 0;
  virtual Record case_to_record(const std::any& c) const = 0;
  virtual std::string case_string(const std::any& c) const = 0;
  /// Throws Error naming the field when the case is not a valid input of the op.
  virtual void validate(const std::any& c) const = 0;
  /// Runs reference and device on the case and compares; never throws for bad cases (the error is
  /// reported), only for bad options (unknown fault, unavailable backend).
  virtual LockstepResult run(const std::any& c, const RunOptions& options) const = 0;
  /// Runs one backend alone ("reference" or "device") and returns its outputs; throws Error on bad input.
  virtual Record run_one(const std::any& c, const std::string& which, const RunOptions& options) const = 0;
  /// Coverage: the regions of the case space the op's generator is meant to reach, declared once
  /// ("dtype=bf16", "mask=segment", "edge=one_token_sequence", "run=zero_accept_step"), in display order.
  virtual std::vector<std::string> coverage_regions() const = 0;
  /// Indices into coverage_regions() of the regions case `c` reached; `r` is its lockstep report (some
  /// regions are only known after the run: stale entries read, zero-accept steps).
  virtual std::vector<int> regions_reached(const std::any& c, const Report& r) const = 0;
  /// The op's named faults (device/<family>/<op>_kernel.h), in listing order.
  virtual std::span<const device::Fault> faults() const { return {}; }
  /// Whether the op declares a batching (vmap) rule (fuzz/core/batching.h).
  virtual bool has_batching_rule() const { return false; }
  /// Checks the op's batching rule on case `c` for one side ("reference" or "device"): "" or the first
  /// failure (slice, output, worst element); "" when the op has no rule.
  virtual std::string check_batching(const std::any& c, const std::string& which, const RunOptions& options) const {
    (void)c, (void)which, (void)options;
    return "";
  }
  /// The case's fields and the outputs' fields (with their rules), in field order.
  virtual std::vector<FieldInfo> case_fields() const = 0;
  virtual std::vector<FieldInfo> output_fields() const { return {}; }
  /// Whether an external implementation can replace the device side (false for stateful ops whose sides
  /// step together).
  virtual bool pluggable() const { return false; }
  /// run_one with the side's out-of-range page reads (default: run_one, none recorded).
  virtual SideResult run_side(const std::any& c, const std::string& which, const RunOptions& options) const {
    return {run_one(c, which, options), {}, 0};
  }
};

/// A coverage region of a case type: its name and its predicate over a case and the case's report.
template <class Case>
struct Region {
  std::string name;
  std::function<bool(const Case&, const Report&)> reached;
};

/// Builds an op's region list: `values` declares one region per value of an axis ("axis=value", reached
/// when key(case) equals the value); `when` / `when_run` declare one region with a predicate over the case
/// (and its report).
template <class Case>
class Regions {
 public:
  Regions& values(const std::string& axis, std::initializer_list<std::string> values,
                  std::function<std::string(const Case&)> key) {
    for (const std::string& v : values)
      regions_.push_back({axis + "=" + v, [key, v](const Case& c, const Report&) { return key(c) == v; }});
    return *this;
  }
  Regions& when(std::string name, std::function<bool(const Case&)> p) {
    regions_.push_back({std::move(name), [p = std::move(p)](const Case& c, const Report&) { return p(c); }});
    return *this;
  }
  Regions& when_run(std::string name, std::function<bool(const Case&, const Report&)> p) {
    regions_.push_back({std::move(name), std::move(p)});
    return *this;
  }
  std::vector<Region<Case>> build() { return std::move(regions_); }

 private:
  std::vector<Region<Case>> regions_;
};

/// The value of a stat in a report (0 when absent).
inline double report_stat(const Report& r, const std::string& name) {
  for (const auto& [k, v] : r.stats)
    if (k == name) return v;
  return 0;
}

/// A report for one lockstep run of `op` (op, canonical case string, backend and fault filled in).
inline Report start_report(const std::string& op, std::string case_string, const RunOptions& options) {
  Report rep;
  rep.op = op;
  rep.case_string = std::move(case_string);
  rep.backend = enum_name(options.backend);
  rep.fault = options.fault;
  if (options.impl) rep.impl = options.impl->name();
  return rep;
}
template <class Case>
Report start_report(const std::string& op, const Case& c, const RunOptions& options) {
  return start_report(op, canonical_string(op, c), options);
}

/// Check 1 of the comparison order: the device run left its input case unmodified.
template <class Case>
void check_inputs_unmodified(Report& rep, const Case& before, const Case& after) {
  const std::string changed = first_difference(before, after);
  if (changed.empty()) return;
  rep.inputs_modified = true;
  rep.modified_field = changed;
  rep.fail("device run modified input " + changed);
}

/// Checks 2-3 for one output: compares it and records a failure naming the output.
inline void compare_output(Report& rep, const std::string& name, const Tensor& ref, const Tensor& dev,
                           const Tolerance& tol) {
  rep.outputs.push_back(compare_tensor(name, ref, dev, tol));
  if (!rep.outputs.back().passed) rep.fail(name + ": " + rep.outputs.back().failure);
}

/// Exact output-rounding check of a bf16/f16 output `out` (issue 9): it must equal the same kernel's f32-output
/// run `out_f32` on the same inputs rounded to nearest-even, bit for bit (the arithmetic is identical up to
/// the final store). One ulp of rounding error sits inside the tolerance of check 3; this check sees it.
/// Recorded as output "<name>_rounding" (reference side: the rounded f32 run).
inline void check_output_rounding(Report& rep, const std::string& name, const Tensor& out_f32, const Tensor& out) {
  Tensor rounded(out.dtype(), out_f32.shape());
  const std::vector<double> f32 = out_f32.values();
  for (int64_t i = 0; i < rounded.numel(); ++i) rounded.set(i, f32[static_cast<size_t>(i)]);  // one RNE rounding (Tensor::set)
  compare_output(rep, name + "_rounding", rounded, out, Tolerance{});
  if (rep.outputs.back().passed && !(rounded == out)) {  // equal values, different bits: signed zeros, NaN payloads
    rep.outputs.back().passed = false;
    rep.outputs.back().failure = "bytes differ from the rounded f32-output run (sign of zero or NaN payload)";
    rep.fail(name + "_rounding: " + rep.outputs.back().failure);
  }
}

/// Runs `fn`; an Error becomes the report's error (`prefix` + message) and its failure. Returns whether
/// `fn` completed.
template <class Fn>
bool run_reporting_errors(Report& rep, const std::string& prefix, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    rep.error = prefix + e.what();
    rep.fail(rep.error);
    return false;
  }
}

namespace detail {
/// Calls the case type's `validate(const Case&)` (found by argument-dependent lookup).
template <class Case>
void validate_case(const Case& c) {
  validate(c);
}
}  // namespace detail

/// Field-described ops: Case and Outputs list their fields once (core/fields.h).
template <class Case>
class TypedOp : public Op {
 public:
  virtual rc::Gen<Case> typed_generator() const = 0;
  virtual LockstepResult run_typed(const Case& c, const RunOptions& options) const = 0;
  virtual Record run_one_typed(const Case& c, const std::string& which, const RunOptions& options) const = 0;
  /// The op's coverage regions (called once).
  virtual std::vector<Region<Case>> typed_regions() const = 0;

  rc::Gen<std::any> generator() const override {
    return rc::gen::map(typed_generator(), [](Case c) { return std::any(std::move(c)); });
  }
  std::any case_from_record(const Record& r, const std::string& path) const override {
    Case c;
    from_record(r, c, path);
    return c;
  }
  Record case_to_record(const std::any& c) const override { return to_record(std::any_cast<const Case&>(c)); }
  std::string case_string(const std::any& c) const override {
    return canonical_string(name(), std::any_cast<const Case&>(c));
  }
  void validate(const std::any& c) const override { detail::validate_case(std::any_cast<const Case&>(c)); }
  LockstepResult run(const std::any& c, const RunOptions& options) const override {
    return run_typed(std::any_cast<const Case&>(c), options);
  }
  Record run_one(const std::any& c, const std::string& which, const RunOptions& options) const override {
    return run_one_typed(std::any_cast<const Case&>(c), which, options);
  }
  std::vector<FieldInfo> case_fields() const override { return field_infos<Case>(); }
  std::vector<std::string> coverage_regions() const override {
    std::vector<std::string> names;
    for (const Region<Case>& r : regions()) names.push_back(r.name);
    return names;
  }
  std::vector<int> regions_reached(const std::any& c, const Report& r) const override {
    const Case& typed = std::any_cast<const Case&>(c);
    std::vector<int> hit;
    const auto& rs = regions();
    for (size_t k = 0; k < rs.size(); ++k)
      if (rs[k].reached(typed, r)) hit.push_back(static_cast<int>(k));
    return hit;
  }

 private:
  const std::vector<Region<Case>>& regions() const {
    std::call_once(regions_once_, [this] { regions_ = typed_regions(); });
    return regions_;
  }
  mutable std::once_flag regions_once_;
  mutable std::vector<Region<Case>> regions_;
};

/// All registered ops, in listing order.
const std::vector<std::unique_ptr<Op>>& registry();
/// The op called `name`; throws Error naming `--op` with the known names otherwise.
const Op& find_op(const std::string& name);

}  // namespace lockstep::oracle
