#include "device/core/faults.h"

#include "core/error.h"
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/metadata/nsa_metadata_kernel.h"
#include "device/metadata/segment_seqlens_offsets_kernel.h"

namespace lockstep::device {

const std::vector<FaultInfo>& all_faults() {
  static const std::vector<FaultInfo> faults = {
      {"segment_block_off_by_one", "ragged_paged_attention", kRpaFaultSegmentBlockOffByOne,
       "seed 000: row segment starts read from the neighbouring query block of the pre-scattered layout"},
      {"segment_mask_or_for_and", "ragged_paged_attention", kRpaFaultSegmentMaskOrForAnd,
       "seed 000/001: segment allow-mask combined with OR instead of AND (rs <= p || p <= q_pos)"},
      {"read_past_kv_len", "ragged_paged_attention", kRpaFaultReadPastKvLen,
       "seed 004: the kernel walks page-table entries past kv_len (stale trailing entries)"},
      {"positions_not_broadcast", "segment_seqlens_offsets", kSegFaultPositionsNotBroadcast,
       "seed 002: ids with extra batch dims paired elementwise with unbatched positions (reads past them as 0)"},
      {"empty_extra_shape", "segment_seqlens_offsets", kSegFaultEmptyExtraShape,
       "seed 002: the extra-dim product taken from the side with no extra dims (empty product 1): only the "
       "first slice is computed"},
      {"nsa_arange_off_by_one", "nsa_metadata", kNsaFaultArangeOffByOne,
       "seed 003: seqlens_expanded = arange(kv - qo, kv) instead of arange(kv - qo + 1, kv + 1)"},
      {"nsa_missing_topk_clamp", "nsa_metadata", kNsaFaultMissingTopkClamp,
       "seed 003: nsa_cache_seqlens not clamped to topk (and its prefix sum with it)"},
      {"nsa_request_search_boundary", "nsa_metadata", kNsaFaultSearchBoundary,
       "seed 003: the binary search attributes a token at a request boundary to the previous request"},
  };
  return faults;
}

int fault_id(std::string_view op, std::string_view name) {
  if (name.empty() || name == "none") return 0;
  std::string known;
  for (const FaultInfo& f : all_faults()) {
    if (f.op != op) continue;
    if (name == f.name) return f.id;
    known += (known.empty() ? "" : ", ") + std::string(f.name);
  }
  throw Error("--fault", std::string(name),
              fmt::format("no such fault for op {} (known: {})", op, known.empty() ? "none" : known));
}

}  // namespace lockstep::device
