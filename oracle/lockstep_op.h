#pragma once
/// One op = one row (oracle/registry.cpp). An op's Case and Outputs describe their fields once
/// (core/fields.h), each output field with its comparison Rule; its two sides follow the one contract
///   reference::OP(const Case&) -> Outputs          device::OP(const Case&, const device::Options&) -> Outputs
/// (out-of-range reads, dropped counts and invariant failures are fields of Outputs). LockstepOp runs
/// both, checks the inputs unmodified, runs the op's extra check, then applies every output's Rule in
/// field order. Stateful ops whose sides must step together (spec_decode) give the whole run instead.
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/oob_reads.h"
#include "device/core/faults.h"
#include "device/core/options.h"
#include "oracle/batching.h"
#include "oracle/impl.h"
#include "oracle/impl_poison.h"
#include "oracle/op.h"

namespace lockstep::oracle {

namespace detail {
/// Visits the fields of one side's outputs together with the same field of the other side (`other`, in
/// field order) and the field's Rule: fn(name, field, other_field, rule).
template <class Fn>
struct RuleVisitor {
  Fn fn;
  std::vector<const void*> other;
  size_t k = 0;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&... extra) {
    fn(name, f, *static_cast<const F*>(other[k++]), rule_of(extra...));
  }
};
template <class Fn>
RuleVisitor<Fn> rule_visitor(Fn fn, std::vector<const void*> other) {
  return RuleVisitor<Fn>{std::move(fn), std::move(other)};
}
}  // namespace detail

template <class Case, class Outputs>
struct OpRow {
  const char* name;
  const char* summary;
  rc::Gen<Case> (*generator)();
  Outputs (*reference)(const Case&);
  Outputs (*device)(const Case&, const device::Options&);
  std::vector<Region<Case>> (*regions)();
  std::span<const device::Fault> faults;
  /// Tolerance of the Rule::tolerance outputs; exact when null.
  Tolerance (*tolerance)(const Case&, const Outputs& ref, const Outputs& dev) = nullptr;
  /// Extra checks and statistics, run before the output rules (its failures come first).
  void (*check)(const Case&, const Outputs& ref, const Outputs& dev, Report& rep) = nullptr;
  /// Stateful ops: the whole lockstep run, replacing reference -> device -> rules.
  LockstepResult (*run)(const Case&, const RunOptions&) = nullptr;
  /// Ops whose inputs batch (extra vmap dims, ragged sequences/requests): the rule, next to the generator.
  fuzz::BatchingRule<Case, Outputs> (*batching)() = nullptr;
};

template <class Case, class Outputs>
class LockstepOp final : public TypedOp<Case> {
 public:
  explicit LockstepOp(const OpRow<Case, Outputs>& row) : row_(row) {}

  std::string name() const override { return row_.name; }
  std::string summary() const override { return row_.summary; }
  std::span<const device::Fault> faults() const override { return row_.faults; }
  rc::Gen<Case> typed_generator() const override { return row_.generator(); }
  std::vector<Region<Case>> typed_regions() const override { return row_.regions(); }

  Record run_one_typed(const Case& c, const std::string& which, const RunOptions& options) const override {
    return to_record(side(c, which, options));
  }

  /// The side's outputs and the rows of every Rule::oob_reads output (and the Rule::oob_dropped counts).
  SideResult run_side(const std::any& a, const std::string& which, const RunOptions& options) const override {
    const Outputs o = side(std::any_cast<const Case&>(a), which, options);
    SideResult s{to_record(o), {}, 0};
    auto v = detail::rule_visitor([&](const char*, const auto& f, const auto&, const Rule& rule) {
      using F = std::decay_t<decltype(f)>;
      if constexpr (std::is_same_v<F, Tensor>) {
        if (rule.kind == Rule::oob_reads)
          for (const OobRead& r : oob_list(f)) s.oob.push_back(r);
      } else if constexpr (std::is_integral_v<F>) {
        if (rule.kind == Rule::oob_dropped) s.oob_dropped += f;
      }
    }, fields_of(o));
    const_cast<Outputs&>(o).fields(v);
    return s;
  }

  bool has_batching_rule() const override { return row_.batching != nullptr; }
  std::vector<FieldInfo> output_fields() const override { return field_infos<Outputs>(); }
  bool pluggable() const override { return row_.run == nullptr; }

  /// The rule on one side: floating outputs within the row's tolerance for the batched case (from its
  /// reference outputs), everything else exact.
  std::string check_batching(const std::any& a, const std::string& which, const RunOptions& options) const override {
    if (!row_.batching) return "";
    const Case& c = std::any_cast<const Case&>(a);
    Tolerance tol;
    if (row_.tolerance) {
      const Outputs ref = row_.reference(c);
      tol = row_.tolerance(c, ref, ref);
    }
    const std::function<Outputs(const Case&)> run = [&](const Case& x) { return side(x, which, options); };
    return check_batching_rule<Case, Outputs>(row_.batching(), run, c, tol);
  }

  LockstepResult run_typed(const Case& c, const RunOptions& options) const override {
    if (row_.run) return row_.run(c, options);
    LockstepResult res;
    Report& rep = res.report = start_report(row_.name, c, options);
    const device::Options dopt = device_options(options);
    device::require_backend(options.backend);
    Outputs ref, dev;
    if (!run_reporting_errors(rep, "invalid case: ", [&] { ref = row_.reference(c); })) return res;
    const Case before = c;
    // An external implementation runs on the poisoned case (oracle/impl_poison.h); after a failed comparison,
    // attribution re-runs it.
    auto impl_call = [&](const Case& x) { return impl_outputs(*options.impl, row_.name, x, ref); };
    PoisonSession<Case, Outputs, decltype(impl_call)> poison(c, impl_call, options.impl != nullptr);
    if (!run_reporting_errors(rep, "device: ", [&] { dev = options.impl ? poison.run_all() : row_.device(c, dopt); }))
      return res;
    res.reference_outputs = to_record(ref);
    res.device_outputs = to_record(dev);
    check_inputs_unmodified(rep, before, c);
    if (row_.check) row_.check(c, ref, dev, rep);
    apply_rules(c, ref, dev, dopt, rep);
    if (!rep.passed && poison.poisoned()) {
      auto fails = [&](const Outputs& d) {  // the comparison above, on a scratch report
        Report scratch;
        scratch.impl = rep.impl;
        if (row_.check) row_.check(c, ref, d, scratch);
        apply_rules(c, ref, d, dopt, scratch);
        return !scratch.passed;
      };
      run_reporting_errors(rep, "device (poison attribution): ", [&] {
        const auto found = poison.attribute(dev, fails);
        if (found.failure.empty()) return;
        rep.device_oob.insert(rep.device_oob.end(), found.reads.begin(), found.reads.end());
        rep.fail(found.failure);
      });
    }
    return res;
  }

 private:
  static std::vector<const void*> fields_of(const Outputs& o) {
    std::vector<const void*> v;
    for_each_field(o, [&](const char*, const auto& f) { v.push_back(&f); });
    return v;
  }

  Outputs side(const Case& c, const std::string& which, const RunOptions& options) const {
    if (which == "reference") return row_.reference(c);
    if (which == "device" && options.impl) return impl_outputs(*options.impl, row_.name, c, row_.reference(c));
    if (which == "device") return row_.device(c, device_options(options));
    throw Error("--backend", which, "must be reference or device");
  }

  /// The fault id of `o.fault` in the row's own list ("" or "none" = 0); the wording of device::fault_id.
  device::Options device_options(const RunOptions& o) const {
    device::Options d{o.backend, 0};
    if (o.fault.empty() || o.fault == "none") return d;
    std::string known;
    for (const device::Fault& f : row_.faults) {
      if (o.fault == f.name) {
        d.fault = f.id;
        return d;
      }
      known += (known.empty() ? "" : ", ") + std::string(f.name);
    }
    throw Error("--fault", o.fault,
                fmt::format("no such fault for op {} (known: {})", row_.name, known.empty() ? "none" : known));
  }

  static std::string oob_message(const char* pattern, const std::vector<OobRead>& rows) {
    const OobRead& o = rows.front();
    const size_t n = rows.size();
    return fmt::format(fmt::runtime(pattern), fmt::arg("n", n), fmt::arg("s", n == 1 ? "" : "s"),
                       fmt::arg("entries", n == 1 ? "entry" : "entries"), fmt::arg("seq", o.seq),
                       fmt::arg("token", o.token), fmt::arg("slot", o.slot), fmt::arg("page", o.page),
                       fmt::arg("bound", o.bound));
  }

  static void fail_lines(Report& rep, const char* prefix, const std::string& lines) {
    size_t start = 0;
    while (start < lines.size()) {
      size_t end = lines.find('\n', start);
      if (end == std::string::npos) end = lines.size();
      rep.fail(std::string(prefix ? prefix : "") + lines.substr(start, end - start));
      start = end + 1;
    }
  }

  /// Applies every output's Rule, in field order; stops when the f32-output run of the rounding check throws.
  void apply_rules(const Case& c, const Outputs& ref, const Outputs& dev, const device::Options& dopt,
                   Report& rep) const {
    bool stopped = false;
    bool have_f32 = false;
    Outputs dev32;
    std::vector<const void*> f32_fields;
    size_t index = 0;
    auto v = detail::rule_visitor([&](const char* name, const auto& r, const auto& d, const Rule& rule) {
      using F = std::decay_t<decltype(r)>;
      const size_t k = index++;
      if (stopped || rule.kind == Rule::info) return;
      if constexpr (std::is_same_v<F, Tensor>) {
        if (rule.kind == Rule::oob_reads) {
          const std::vector<OobRead> dl = oob_list(d), rl = oob_list(r);
          if (rule.listed) {
            rep.device_oob.insert(rep.device_oob.end(), dl.begin(), dl.end());
            rep.reference_oob.insert(rep.reference_oob.end(), rl.begin(), rl.end());
          }
          if (!dl.empty()) rep.fail(oob_message(rule.failure, dl));
          // An external implementation (--impl) is a black box without a checked accessor: it reports none,
          // so "the device reported none" does not apply (the reference's rows are still listed).
          if (!rl.empty() && dl.empty() && rule.missed && rep.impl.empty()) rep.fail(oob_message(rule.missed, rl));
          return;
        }
        const bool approx = rule.kind == Rule::tolerance;
        compare_output(rep, name, r, d, approx && row_.tolerance ? row_.tolerance(c, ref, dev) : Tolerance{});
        if (!rep.outputs.back().passed && rule.failure) rep.fail(rule.failure);
        // The exact rounding check re-runs lockstep's own kernel with f32 outputs: not for an external one.
        if (approx && rep.impl.empty() && (d.dtype() == DType::bf16 || d.dtype() == DType::f16)) {
          if (!have_f32) {  // bf16/f16: the output cast rounds to nearest-even, exactly
            device::Options d32 = dopt;
            d32.f32_output = true;
            if (!run_reporting_errors(rep, "device (f32 output): ", [&] { dev32 = row_.device(c, d32); })) {
              stopped = true;
              return;
            }
            f32_fields = fields_of(dev32);
            have_f32 = true;
          }
          check_output_rounding(rep, name, *static_cast<const Tensor*>(f32_fields[k]), d);
        }
      } else if constexpr (std::is_same_v<F, std::string>) {
        if (rule.kind == Rule::must_be_empty) {
          fail_lines(rep, rule.missed, r);
          fail_lines(rep, rule.failure, d);
        } else if (r != d) {
          rep.fail(fmt::format("{}: reference {}, device {}", name, r, d));
        }
      } else if constexpr (std::is_integral_v<F>) {
        if (rule.kind == Rule::oob_dropped) rep.oob_dropped += d;
        else if (r != d) rep.fail(fmt::format("{}: reference {}, device {}", name, r, d));
      } else if constexpr (std::is_same_v<F, double>) {
        if (std::memcmp(&r, &d, sizeof r) != 0) rep.fail(fmt::format("{}: reference {}, device {}", name, r, d));
      } else {
        if (r != d) rep.fail(fmt::format("{}: reference {}, device {}", name, enum_name(r), enum_name(d)));
      }
    }, fields_of(dev));
    const_cast<Outputs&>(ref).fields(v);
  }

  OpRow<Case, Outputs> row_;
};

}  // namespace lockstep::oracle
