#pragma once
/// Out-of-bounds page reads, recorded by every paged accessor (reference and device) instead of
/// dereferencing the bad index. Plain struct: also written by kernels.
#include <cstdint>

namespace lockstep {

struct OobRead {
  int32_t seq;    ///< sequence (request) index
  int32_t token;  ///< first key position of that page whose read was attempted
  int32_t slot;   ///< flat index into page_indices
  int32_t page;   ///< the page index found there
  int32_t bound;  ///< number of pages in the cache (valid: 0 <= page < bound)
};

inline bool operator==(const OobRead& a, const OobRead& b) {
  return a.seq == b.seq && a.token == b.token && a.slot == b.slot && a.page == b.page && a.bound == b.bound;
}

}  // namespace lockstep
