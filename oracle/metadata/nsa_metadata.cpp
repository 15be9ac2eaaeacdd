/// Registry entry of nsa_metadata: reference host loop (reference/metadata), single-launch device kernel
/// (device/metadata), generator (fuzz/metadata); integer outputs compare exactly.
#include "device/metadata/nsa_metadata.h"
#include "fuzz/metadata/nsa_metadata.h"
#include "oracle/metadata/integer_op.h"
#include "reference/metadata/nsa_metadata.h"

namespace lockstep::oracle {

std::unique_ptr<Op> make_nsa_metadata_op() {
  return std::make_unique<IntegerMetadataOp<NsaCase, NsaOutputs>>(
      "nsa_metadata", "sglang NSA metadata: decode / target_verify / draft_extend expansion, topk clamp, page rows",
      &fuzz::gen_nsa_case, &reference::nsa_metadata,
      [](const NsaCase& c, const device::MetadataOptions& o) { return device::nsa_metadata(c, o); });
}

}  // namespace lockstep::oracle
