#pragma once
/// Device ragged paged attention: validates the case, builds the block-indexed metadata and runs the
/// single-source kernel (ragged_paged_attention_kernel.h) on the CPU launcher or on CUDA.
#include <vector>

#include "core/attention/ragged_paged_attention.h"
#include "device/core/options.h"

namespace lockstep::device {

/// Gather-free segment metadata (seed 000's pre-scatter fix): one row of `block_q` segment starts per
/// query block, so a kernel block loads its row contiguously instead of indexing by global token.
struct RpaBlockedMetadata {
  std::vector<int32_t> block_seq;           ///< (num_blocks) sequence of each query block
  std::vector<int32_t> block_idx;           ///< (num_blocks) block index inside that sequence
  std::vector<int32_t> seg_starts_blocked;  ///< (num_blocks, block_q); padding entries 0; segment mode only
  std::vector<int64_t> mask_offsets;        ///< (S) start of each sequence's dense mask; dense mode only
  int64_t num_blocks() const { return static_cast<int64_t>(block_seq.size()); }
  /// Bytes of mask metadata the kernel reads: segment starts + prefix_end (segment) — O(tokens).
  int64_t segment_bytes(int64_t padded_seqs) const;
};

RpaBlockedMetadata rpa_blocked_metadata(const RpaCase& c);

/// The outputs with `oob_reads` deduplicated by (seq, slot), first token kept, sorted by (seq, slot), and
/// `oob_dropped` the records lost to the log's capacity.
RpaOutputs ragged_paged_attention(const RpaCase& c, const Options& options = {});

}  // namespace lockstep::device
