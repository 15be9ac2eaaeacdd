#pragma once
/// Device-side pool sizing entry (kernel body: device/kvcache/pool_sizing_kernel.h). Pool sizing is a
/// one-item startup computation in the engine; both backends run the single-source item on the host.
#include "core/kvcache/pool_sizing.h"
#include "device/core/options.h"

namespace lockstep::device {

/// `options.fault`: a PoolSizingFault id. Throws Error for invalid cases.
PoolSizingOutputs pool_sizing(const PoolSizingCase& c, const Options& options = {});

}  // namespace lockstep::device
