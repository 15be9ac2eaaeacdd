#pragma once
/// Reference `segment_seqlens_offsets` (spec: shared/spec/attention-metadata.md §2.2–§2.6, decision 5).
///
/// Per (extra index e, batch row b): positions are the given ones (row `e % pos_slices`, i.e. broadcast
/// over the extra dims they lack) or generated from the ids (§2.6: THD restarts at each run start and
/// zeroes trailing padding; BSHD arange(T)). Then:
///   THD  — the exact (mask-based, "slow path") semantics for every mask type:
///            allow(i, j) = q_ids[i] == kv_ids[j] AND { causal/padding_causal: q_pos[i] >= kv_pos[j];
///                          bottom-right: rl_q[i] - q_pos[i] <= rl_kv[j] - kv_pos[j]; otherwise true }
///            row_ids[i] = max_j (allow ? q_ids[i] : 0),  col_ids[j] = max_i (allow ? q_ids[i] : 0)
///          (rl = length of the run of equal ids a token is in, 0 for padding), and seqlens/offsets of
///          row_ids (q) and col_ids (kv) per §2.2: seqlens[k] = #{ids == k+1} for k < S (unused 0; ids > S
///          dropped), offsets = the first S+1 run starts of non-zero ids (unused -1; runs of ids > S count).
///          Decision: lockstep implements these semantics rather than TE's fast causal path (whose flattened
///          `jnp.take` differs for cross-attention inputs, §4.7); for self-attention both agree. The sliding
///          window only selects TE's path and therefore does not change the result.
///   Negative ids are a validation error (TE clips them to padding); no_mask on THD behaves like padding
///   (TE only accepts padding masks with THD).
///   BSHD — padding masks: seqlens = number of non-padding tokens (TE sums the ids, equal for 0/1 ids);
///          other masks: seqlens = T. Offsets are empty.
#include <cstdint>
#include <span>
#include <vector>

#include "core/metadata/segment_seqlens_offsets.h"

namespace lockstep::reference {

SegmentSeqlensOutputs segment_seqlens_offsets(const SegmentSeqlensCase& c);

/// §2.6 THD default positions of one row of ids.
std::vector<int32_t> thd_positions_from_ids(std::span<const int32_t> ids);
/// §2.2 on one row: seqlens (S) and offsets (S+1).
void seqlens_and_offsets(std::span<const int32_t> ids, int64_t S, std::span<int32_t> seqlens,
                         std::span<int32_t> offsets);
/// Run length of each token's run of equal ids (0 for padding).
std::vector<int32_t> run_length_fill(std::span<const int32_t> ids);

}  // namespace lockstep::reference
