#include "device/core/faults.h"

#include "core/error.h"
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/kvcache/page_table_kernel.h"
#include "device/kvcache/pool_sizing_kernel.h"
#include "device/spec/spec_verify_kernel.h"
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
      {"output_round_toward_zero", "ragged_paged_attention", kRpaFaultOutputRoundTowardZero,
       "bf16/f16 output cast rounds toward zero instead of to nearest-even (within one ulp: only the exact "
       "rounding check sees it)"},
      {"stale_trailing_entries_read", "kv_trace", kKvFaultStaleTrailingEntriesRead,
       "seed 004 root cause: trailing req_to_token entries of short rows (up to max_seq_len_k) translated and read"},
      {"swa_state_not_swapped", "kv_trace", kKvFaultSwaStateNotSwapped,
       "seed 004 Patch E: SWA layers read full-pool page indices (backend SWA state not swapped with the pool)"},
      {"clamp_page_index", "kv_trace", kKvFaultClampPageIndex,
       "seed 004 PR #5 (reverted): SWA state not swapped, page indices clamped into range: no OOB, wrong pages read"},
      {"decode_partial_alloc_leak", "kv_trace", kKvTraceFaultDecodePartialAllocLeak,
       "seed 004 / spec 4.2: full decode allocation kept when the SWA allocation fails"},
      {"stale_trailing_entries_read", "page_table", kKvFaultStaleTrailingEntriesRead,
       "seed 004 root cause on a page-table dump: the read walk covers every column, not ceil(L/page)"},
      {"moe_ratio_for_dense_model", "pool_sizing", kPoolSizingFaultMoeRatioForDenseModel,
       "seed 004 Patch 2: swa_full_tokens_ratio 0.15 applied to dense Gemma-4 models too"},
      {"v1_verify_under_v2_scheduler", "spec_decode", kSpecFaultV1VerifyUnderV2,
       "seed 004: v2 scheduler over v1's verify: both layers do the bookkeeping (output_ids, kv_committed_len, "
       "spec_verify_ct twice; KV leaks)"},
      {"zero_accept_leaves_verify_input", "spec_decode", kSpecFaultZeroAcceptLeavesVerify,
       "seed 004: all drafts rejected and no request surviving leaves the verify input in spec_info"},
      {"flat_accept_tokens_as_per_request", "spec_decode", kSpecFaultFlatAcceptTokens,
       "seed 004: v1's flat [total_accepted] accept tokens read with v2's [bs * N] stride"},
      {"eos_before_length", "spec_decode", kSpecFaultEosBeforeLength,
       "spec 5.4: update_finish_state checks stop tokens before max_new_tokens (order reversed)"},
      {"bonus_not_counted", "spec_decode", kSpecFaultBonusNotCounted,
       "spec 5.1: v2 accept_lens without the +1 bonus token"},
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
