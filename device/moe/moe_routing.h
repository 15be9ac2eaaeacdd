#pragma once
/// Device `moe_routing`: validates the case and runs the single-source kernel (moe_routing_kernel.h) on the
/// CPU launcher or on CUDA, one block per token (T = 0 launches nothing and returns the empty outputs).
#include "core/moe/moe_routing.h"
#include "device/core/options.h"

namespace lockstep::device {

MoeRoutingOutputs moe_routing(const MoeRoutingCase& c, const Options& options = {});

}  // namespace lockstep::device
