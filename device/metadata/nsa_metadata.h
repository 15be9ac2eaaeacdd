#pragma once
/// Device `nsa_metadata`: validates the case and runs the single-launch kernel (nsa_metadata_kernel.h)
/// on the CPU launcher or on CUDA.
#include "core/metadata/nsa_metadata.h"
#include "device/core/options.h"

namespace lockstep::device {

NsaOutputs nsa_metadata(const NsaCase& c, const Options& options = {});

}  // namespace lockstep::device
