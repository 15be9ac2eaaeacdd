#pragma once
/// Device `nsa_metadata`: validates the case and runs the single-launch kernel (nsa_metadata_kernel.h)
/// on the CPU launcher or on CUDA.
#include "core/metadata/nsa_metadata.h"
#include "device/metadata/segment_seqlens_offsets.h"

namespace lockstep::device {

NsaOutputs nsa_metadata(const NsaCase& c, const MetadataOptions& options = {});

}  // namespace lockstep::device
