#include "reference/attention/multi_item.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::reference {

MultiItemLayout multi_item_layout(std::span<const int32_t> tokens, int32_t d, int64_t request) {
  const std::string field = fmt::format("multi_item.request[{}].tokens", request);
  std::vector<int32_t> di;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] == d) di.push_back(static_cast<int32_t>(i));
  const std::string len = fmt::format("len={}", tokens.size());
  if (di.empty()) throw Error(field, len, fmt::format("must contain delimiter token {}", d));
  if (di[0] == 0) throw Error(field, len, "requires a non-empty query prefix before the first delimiter");
  if (di.size() < 2) throw Error(field, len, "must contain at least two delimiters");
  if (di.back() != static_cast<int32_t>(tokens.size()) - 1) {
    throw Error(field, len,
                fmt::format("has {} token(s) after the last delimiter (at {}); a multi-item sequence ends with "
                            "a delimiter",
                            tokens.size() - 1 - di.back(), di.back()));
  }
  MultiItemLayout out;
  const int32_t query_len = di[0];
  out.prefix_end = query_len + 1;
  out.row_seg_starts.assign(tokens.size(), 0);
  out.positions.assign(tokens.size(), 0);
  for (size_t k = 0; k + 1 < di.size(); ++k) {
    const int32_t s = di[k] + 1, e = di[k + 1];
    for (int32_t r = s; r <= e; ++r) out.row_seg_starts[r] = s;
  }
  int32_t last_delim = -1;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == d) last_delim = static_cast<int32_t>(i);
    out.positions[i] = last_delim < 0 ? static_cast<int32_t>(i) : query_len + (static_cast<int32_t>(i) - last_delim);
  }
  return out;
}

std::vector<int32_t> multi_item_dense_mask(std::span<const int32_t> tokens, int32_t d, int64_t request) {
  const MultiItemLayout layout = multi_item_layout(tokens, d, request);
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<int32_t> mask(static_cast<size_t>(n * n), 0);
  for (int64_t r = 0; r < n; ++r) {
    if (r < layout.prefix_end) {
      for (int64_t c = 0; c <= r; ++c) mask[r * n + c] = 1;
    } else {
      for (int64_t c = 0; c < layout.prefix_end; ++c) mask[r * n + c] = 1;
      for (int64_t c = layout.row_seg_starts[r]; c <= r; ++c) mask[r * n + c] = 1;
    }
  }
  return mask;
}

std::vector<int32_t> causal_extend_mask(int64_t q_len, int64_t kv_len) {
  require(q_len >= 0, "causal_extend_mask.q_len", q_len, "negative length");
  require(kv_len >= q_len, "causal_extend_mask.kv_len", kv_len, fmt::format("shorter than q_len {}", q_len));
  std::vector<int32_t> mask(static_cast<size_t>(q_len * kv_len), 0);
  for (int64_t r = 0; r < q_len; ++r)
    for (int64_t c = 0; c <= kv_len - q_len + r; ++c) mask[r * kv_len + c] = 1;
  return mask;
}

int64_t segment_metadata_bytes(int64_t n) { return 4 * (n + 1); }  // row_seg_starts (n) + prefix_end (1), i32
int64_t dense_mask_bytes(int64_t n) { return 4 * n * n; }          // i32 (n, n)

}  // namespace lockstep::reference
