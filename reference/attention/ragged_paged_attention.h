#pragma once
/// Reference ragged paged attention (spec: shared/spec/attention-metadata.md §1.2–§1.3).
///
/// Straight loops and Eigen products in double; inputs are read as stored (already rounded to the case
/// dtype), the output is rounded once to the case dtype. Decisions (shared/spec/README.md):
///   - allowed(p) by mode: causal `p <= q_pos`; dense `custom_mask[...] == 1`; segment
///     `q_pos < pe ? p <= q_pos : (p < pe || (rs <= p && p <= q_pos))`; then the sliding window keeps
///     only `q_pos - W < p` (decision 8); soft cap `c*tanh(s/c)` applies after sm_scale, before masking.
///   - masked keys are excluded exactly (-inf), not by a finite additive value; a fully masked row
///     outputs zeros (decision 3).
///   - output rows past cu_q_lens[num_seqs] (token padding) are zero.
///   - the returned cache holds the new tokens' K/V at positions [kv_len - q_len, kv_len).
/// Page reads go through a checked accessor: an out-of-range page index of a key some row needs (or of
/// a new token's slot) is recorded in `oob_reads` and that key reads as zero.
#include <vector>

#include "core/attention/ragged_paged_attention.h"

namespace lockstep::reference {

/// The outputs, `oob_reads` (one row per bad page slot, sorted by (seq, slot)) and the magnitudes the
/// tolerance model needs (RpaOutputs::logit_bound, value_bound, softmax_error; oracle/compare.h).
RpaOutputs ragged_paged_attention(const RpaCase& c);

/// The allow-mask of one sequence as a (q_len, kv_len) 0/1 matrix (mode and sliding window applied),
/// row-major. Used by tests to compare modes and by the OOB "read window" computation.
std::vector<uint8_t> rpa_allowed(const RpaCase& c, int64_t seq);

}  // namespace lockstep::reference
