#pragma once
/// Device-side pool sizing entry (kernel body: device/kvcache/pool_sizing_kernel.h). Pool sizing is a
/// one-item startup computation in the engine; both backends run the single-source item on the host.
#include "core/kvcache/pool_sizing.h"

namespace lockstep::device {

/// `fault`: a PoolSizingFault id. Throws Error for invalid cases.
PoolSizingOutputs pool_sizing(const PoolSizingCase& c, int fault);

}  // namespace lockstep::device
