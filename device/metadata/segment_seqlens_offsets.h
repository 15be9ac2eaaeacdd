#pragma once
/// Device `segment_seqlens_offsets`: validates the case and runs the single-source kernel
/// (segment_seqlens_offsets_kernel.h) on the CPU launcher or on CUDA.
#include "core/metadata/segment_seqlens_offsets.h"
#include "device/core/backend.h"

namespace lockstep::device {

struct MetadataOptions {
  Backend backend = Backend::cpu;
  int fault = 0;  ///< fault id of the op (device/core/faults.h); 0 = none
};

SegmentSeqlensOutputs segment_seqlens_offsets(const SegmentSeqlensCase& c, const MetadataOptions& options = {});

}  // namespace lockstep::device
