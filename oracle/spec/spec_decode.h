#pragma once
/// The lockstep driver of spec_decode, shared by the registry entry and the rapidcheck state-machine
/// suite: two scheduler models fed the same commands, one verifying with the reference
/// (reference/spec/verify.h), one with the device kernels (device/spec/spec_verify.h).
#include <string>
#include <vector>

#include "core/spec/spec_decode.h"
#include "device/core/options.h"
#include "oracle/op.h"
#include "reference/spec/scheduler.h"

namespace lockstep::oracle {

class SpecLockstep {
 public:
  /// Throws Error for an unknown fault or an unavailable backend.
  SpecLockstep(const SpecDecodeCase& c, const RunOptions& options);
  /// Applies command `i` to both models. Returns the failure lines: violations either model reported
  /// while applying it, the invariants of both afterwards, and (until the first one) the divergence
  /// between them — verify arrays of the step, then request / batch / pool state. Never throws on a
  /// violation.
  std::vector<std::string> step(const SpecCommand& cmd, int64_t i);
  const reference::spec::SpecScheduler& reference() const { return ref_; }
  const reference::spec::SpecScheduler& device() const { return dev_; }

 private:
  reference::spec::SpecScheduler ref_;
  reference::spec::SpecScheduler dev_;
  bool diverged_ = false;
};

/// One side ("reference" or "device") for `options`: its verify, its page-table builder (reference
/// construction + validator, or the device kernel + checked read walk) and the scheduler-level faults.
reference::spec::SpecSide spec_side(const std::string& which, const RunOptions& options);
reference::spec::SpecSide spec_side_reference();
reference::spec::SpecSide spec_side_device(const device::Options& options);

/// The two sides of the spec_decode contract: the scheduler model with the reference verify, and with the
/// device verify kernels (options.fault: a spec_decode fault id); each validates the case first.
SpecDecodeOutputs spec_decode_reference(const SpecDecodeCase& c);
SpecDecodeOutputs spec_decode_device(const SpecDecodeCase& c, const device::Options& options);

/// Oracle hooks of spec_decode (its row: oracle/registry.cpp): coverage regions and the stateful lockstep
/// run (SpecLockstep over every command: violations, invariants, first divergence; then the outputs).
std::vector<Region<SpecDecodeCase>> spec_decode_regions();
LockstepResult spec_decode_lockstep(const SpecDecodeCase& c, const RunOptions& options);

}  // namespace lockstep::oracle
