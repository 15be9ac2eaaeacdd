#pragma once
/// The attention allow-predicate of the device kernels, in one place (host and device).
#include <cstdint>

#include "core/config.h"
#include "core/kernel_enums.h"

namespace lockstep::device {

/// May query position `q_pos` attend to key position `p`? (`mode` = kernel_id(MaskMode))
///   causal:  p <= q_pos
///   dense:   mask_row[p] == 1   (mask_row = this query row of the sequence's (q_len, kv_len) mask)
///   segment: q_pos < pe ? p <= q_pos : (p < pe || (rs <= p && p <= q_pos))
/// then the sliding window W keeps only q_pos - W < p. `or_for_and` is the injected fault
/// segment_mask_or_for_and.
LS_HD inline bool rpa_allowed(int32_t mode, int32_t p, int32_t q_pos, int32_t pe, int32_t rs, const int32_t* mask_row,
                              int32_t window, bool or_for_and) {
  bool ok;
  if (mode == kernel_id(MaskMode::dense)) {
    ok = mask_row[p] == 1;
  } else if (mode == kernel_id(MaskMode::segment)) {
    const bool own = or_for_and ? (rs <= p || p <= q_pos) : (rs <= p && p <= q_pos);
    ok = q_pos < pe ? p <= q_pos : (p < pe || own);
  } else {
    ok = p <= q_pos;
  }
  if (window > 0 && q_pos - window >= p) ok = false;
  return ok;
}

}  // namespace lockstep::device
