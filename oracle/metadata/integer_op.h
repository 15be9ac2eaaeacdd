#pragma once
/// Registry entry shape shared by the metadata ops: every output is an integer tensor, so reference and
/// device are compared field by field exactly (after the inputs-unmodified check).
#include <string>

#include "core/error.h"
#include "device/core/faults.h"
#include "device/metadata/segment_seqlens_offsets.h"
#include "oracle/op.h"

namespace lockstep::oracle {

template <class Case, class Outputs>
class IntegerMetadataOp final : public TypedOp<Case> {
 public:
  using Generator = rc::Gen<Case> (*)();
  using Reference = Outputs (*)(const Case&);
  using Device = Outputs (*)(const Case&, const device::Options&);
  using RegionList = std::vector<Region<Case>> (*)();

  IntegerMetadataOp(std::string name, std::string summary, Generator gen, Reference ref, Device dev,
                    RegionList regions)
      : name_(std::move(name)), summary_(std::move(summary)), gen_(gen), ref_(ref), dev_(dev), regions_(regions) {}

  std::string name() const override { return name_; }
  std::string summary() const override { return summary_; }
  rc::Gen<Case> typed_generator() const override { return gen_(); }
  std::vector<Region<Case>> typed_regions() const override { return regions_(); }

  Record run_one_typed(const Case& c, const std::string& which, const RunOptions& options) const override {
    if (which == "reference") return to_record(ref_(c));
    if (which == "device") return to_record(dev_(c, device_options(options)));
    throw Error("--backend", which, "must be reference or device");
  }

  LockstepResult run_typed(const Case& c, const RunOptions& options) const override {
    LockstepResult res;
    Report& rep = res.report;
    rep = start_report(name_, c, options);
    const device::Options dopt = device_options(options);
    device::require_backend(options.backend);
    Outputs ref, dev;
    if (!run_reporting_errors(rep, "invalid case: ", [&] { ref = ref_(c); })) return res;
    const Case before = c;
    if (!run_reporting_errors(rep, "device: ", [&] { dev = dev_(c, dopt); })) return res;
    res.reference_outputs = to_record(ref);
    res.device_outputs = to_record(dev);
    check_inputs_unmodified(rep, before, c);
    std::vector<const Tensor*> devs;
    for_each_field(dev, [&](const char*, const Tensor& t) { devs.push_back(&t); });
    size_t k = 0;
    for_each_field(ref, [&](const char* name, const Tensor& t) {
      compare_output(rep, name, t, *devs[k++], Tolerance{});
    });
    return res;
  }

 private:
  device::Options device_options(const RunOptions& o) const {
    return device::Options{o.backend, device::fault_id(name_, o.fault)};
  }
  std::string name_, summary_;
  Generator gen_;
  Reference ref_;
  Device dev_;
  RegionList regions_;
};

}  // namespace lockstep::oracle
