#pragma once
/// Device `segment_seqlens_offsets`: validates the case and runs the single-source kernel
/// (segment_seqlens_offsets_kernel.h) on the CPU launcher or on CUDA.
#include "core/metadata/segment_seqlens_offsets.h"
#include "device/core/options.h"

namespace lockstep::device {

SegmentSeqlensOutputs segment_seqlens_offsets(const SegmentSeqlensCase& c, const Options& options = {});

}  // namespace lockstep::device
