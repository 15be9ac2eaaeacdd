#pragma once
/// Device-side pool sizing entry (kernel body: device/kvcache/pool_sizing_kernel.h). Pool sizing is a
/// one-item startup computation in the engine: it goes through the one launch (device/core/launch.h) like
/// every kernel, and the cuda backend runs it on the host (PoolSizingParams::kHostOnly).
#include "core/kvcache/pool_sizing.h"
#include "device/core/options.h"

namespace lockstep::device {

/// `options.fault`: a PoolSizingFault id. Throws Error for invalid cases.
PoolSizingOutputs pool_sizing(const PoolSizingCase& c, const Options& options = {});

}  // namespace lockstep::device
