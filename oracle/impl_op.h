#pragma once
/// An op run through an external implementation (--impl): the registered op with the plugin as its device
/// side (RunOptions::impl, set on every run) and a generator that only produces cases inside the plugin's
/// declared capabilities — shrinks included (rc::shrinkable::filter). Everything else (reference, case
/// files, coverage, comparison rules) is the registered op's. Campaigns, shrinking, dumps and replay take it
/// like any other Op.
#include <memory>
#include <string>

#include "oracle/impl.h"
#include "oracle/op.h"

namespace lockstep::oracle {

/// Draws this many cases for one campaign case before giving up on the capabilities.
inline constexpr int kImplGenerationTries = 10000;

class ImplOp final : public Op {
 public:
  /// Throws Error when the plugin does not declare `base` or its memory space is not available.
  ImplOp(const Op& base, std::shared_ptr<const Impl> impl);

  const Impl& impl() const { return *impl_; }
  const ImplOpSupport& support() const { return *support_; }

  std::string name() const override { return base_.name(); }
  std::string summary() const override { return base_.summary(); }
  rc::Gen<std::any> generator() const override;
  std::any case_from_record(const Record& r, const std::string& path) const override {
    return base_.case_from_record(r, path);
  }
  Record case_to_record(const std::any& c) const override { return base_.case_to_record(c); }
  std::string case_string(const std::any& c) const override { return base_.case_string(c); }
  void validate(const std::any& c) const override { base_.validate(c); }
  LockstepResult run(const std::any& c, const RunOptions& options) const override {
    return base_.run(c, with_impl(options));
  }
  Record run_one(const std::any& c, const std::string& which, const RunOptions& options) const override {
    return base_.run_one(c, which, with_impl(options));
  }
  std::vector<std::string> coverage_regions() const override { return base_.coverage_regions(); }
  std::vector<int> regions_reached(const std::any& c, const Report& r) const override {
    return base_.regions_reached(c, r);
  }
  std::vector<FieldInfo> case_fields() const override { return base_.case_fields(); }
  std::vector<FieldInfo> output_fields() const override { return base_.output_fields(); }
  bool pluggable() const override { return true; }
  SideResult run_side(const std::any& c, const std::string& which, const RunOptions& options) const override {
    return base_.run_side(c, which, with_impl(options));
  }

 private:
  RunOptions with_impl(RunOptions o) const {
    o.impl = impl_;
    return o;
  }
  const Op& base_;
  std::shared_ptr<const Impl> impl_;
  const ImplOpSupport* support_;
};

}  // namespace lockstep::oracle
