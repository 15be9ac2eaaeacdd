/// Registry entry of segment_seqlens_offsets: reference (reference/metadata), device kernel
/// (device/metadata), generator (fuzz/metadata); integer outputs compare exactly.
#include "fuzz/metadata/segment_seqlens_offsets.h"
#include "oracle/metadata/integer_op.h"
#include "reference/metadata/segment_seqlens_offsets.h"

namespace lockstep::oracle {

std::unique_ptr<Op> make_segment_seqlens_offsets_op() {
  return std::make_unique<IntegerMetadataOp<SegmentSeqlensCase, SegmentSeqlensOutputs>>(
      "segment_seqlens_offsets",
      "TransformerEngine segment ids/positions -> seqlens/offsets (THD/BSHD, masks, extra vmap batch dims)",
      &fuzz::gen_segment_case, &reference::segment_seqlens_offsets,
      [](const SegmentSeqlensCase& c, const device::MetadataOptions& o) { return device::segment_seqlens_offsets(c, o); });
}

}  // namespace lockstep::oracle
