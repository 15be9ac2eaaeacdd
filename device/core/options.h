#pragma once
/// The one set of device options every device op takes: `device::OP(const Case&, const Options&)`.
#include "device/core/backend.h"

namespace lockstep::device {

struct Options {
  Backend backend = Backend::cpu;
  int fault = 0;  ///< the op's fault id (device/core/faults.h fault_id); 0 = none
  /// Workers of the CPU launcher (device/core/cpu_launch.h); any count gives the same bytes. 1 by default:
  /// campaigns already run one case per worker thread, so a kernel must not multiply them.
  int cpu_threads = 1;
  /// Write float outputs in f32 whatever the case dtype (inputs and arithmetic unchanged): the oracle's exact
  /// rounding check compares a bf16/f16 output with this run rounded to nearest-even. Ops without float
  /// outputs ignore it.
  bool f32_output = false;
};

}  // namespace lockstep::device
