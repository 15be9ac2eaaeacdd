#pragma once
/// Multi-item scoring metadata (spec: shared/spec/attention-metadata.md §1.6, decisions 1–2).
///
/// A request's tokens are `query + [d] + item1 + [d] + ... + itemN + [d]`. The shared prefix is the
/// query plus the FIRST delimiter (`prefix_end = len(query) + 1`); every later delimiter closes the item
/// before it (it belongs to that item's segment). Malformed input is rejected with an Error naming the
/// request: no delimiter, empty query, fewer than two delimiters, tokens after the last delimiter.
#include <cstdint>
#include <span>
#include <vector>

namespace lockstep::reference {

struct MultiItemLayout {
  int32_t prefix_end = 0;               ///< exclusive end of the shared prefix
  std::vector<int32_t> row_seg_starts;  ///< (q_len) start of the row's own segment; 0 for prefix rows
  std::vector<int32_t> positions;       ///< (q_len) RoPE positions; reset per item
};

/// Layout of one request (`request` only names it in errors).
MultiItemLayout multi_item_layout(std::span<const int32_t> tokens, int32_t delimiter, int64_t request = 0);

/// The equivalent dense mask, (q_len, q_len) row-major, 1 = attend: prefix rows causal; item rows see
/// the whole prefix and their own segment causally.
std::vector<int32_t> multi_item_dense_mask(std::span<const int32_t> tokens, int32_t delimiter,
                                           int64_t request = 0);

/// Causal mask of an extend with a cached prefix: (q_len, kv_len), row r sees kv_len - q_len + r + 1 keys.
std::vector<int32_t> causal_extend_mask(int64_t q_len, int64_t kv_len);

/// Metadata bytes each representation needs for one request of n tokens (segment: O(n), dense: O(n^2)).
int64_t segment_metadata_bytes(int64_t n);
int64_t dense_mask_bytes(int64_t n);

}  // namespace lockstep::reference
