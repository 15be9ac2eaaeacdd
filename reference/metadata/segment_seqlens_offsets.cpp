#include "reference/metadata/segment_seqlens_offsets.h"

#include <algorithm>

#include "core/error.h"

namespace lockstep::reference {

std::vector<int32_t> thd_positions_from_ids(std::span<const int32_t> ids) {
  const int64_t T = static_cast<int64_t>(ids.size());
  std::vector<int32_t> pos(ids.size(), 0);
  int64_t last_nz = -1;
  for (int64_t t = 0; t < T; ++t)
    if (ids[t] != 0) last_nz = t;
  int64_t start = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (t == 0 || (ids[t] != ids[t - 1] && ids[t] != 0)) start = t;
    pos[t] = t <= last_nz ? static_cast<int32_t>(t - start) : 0;
  }
  return pos;
}

void seqlens_and_offsets(std::span<const int32_t> ids, int64_t S, std::span<int32_t> seqlens,
                         std::span<int32_t> offsets) {
  std::fill(seqlens.begin(), seqlens.end(), 0);
  std::fill(offsets.begin(), offsets.end(), -1);
  int64_t runs = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const int32_t id = ids[t];
    if (id >= 1 && id <= S) ++seqlens[id - 1];
    if (id != 0 && (t == 0 || id != ids[t - 1]) && runs <= S) offsets[runs++] = static_cast<int32_t>(t);
  }
}

std::vector<int32_t> run_length_fill(std::span<const int32_t> ids) {
  std::vector<int32_t> rl(ids.size(), 0);
  size_t t = 0;
  while (t < ids.size()) {
    size_t e = t;
    while (e < ids.size() && ids[e] == ids[t]) ++e;
    for (size_t u = t; u < e; ++u) rl[u] = ids[t] == 0 ? 0 : static_cast<int32_t>(e - t);
    t = e;
  }
  return rl;
}

namespace {

std::vector<int32_t> row_of(const Tensor& t, int64_t row, int64_t len) {
  auto s = t.span<int32_t>();
  return std::vector<int32_t>(s.begin() + row * len, s.begin() + (row + 1) * len);
}

/// The positions used for row (e, b): given (broadcast over missing extra dims) or generated.
std::vector<int32_t> positions(const Tensor& pos, const std::vector<int32_t>& ids, QkvLayout layout, int64_t e,
                               int64_t b, int64_t B) {
  const int64_t T = static_cast<int64_t>(ids.size());
  const int64_t slices = segment_pos_slices(pos);
  if (slices > 0) return row_of(pos, (e % slices) * B + b, T);
  if (layout == QkvLayout::thd) return thd_positions_from_ids(ids);
  std::vector<int32_t> p(ids.size());
  for (int64_t t = 0; t < T; ++t) p[t] = static_cast<int32_t>(t);
  return p;
}

void put(Tensor& t, int64_t row, const std::vector<int32_t>& v) {
  std::copy(v.begin(), v.end(), t.span<int32_t>().begin() + row * static_cast<int64_t>(v.size()));
}

}  // namespace

SegmentSeqlensOutputs segment_seqlens_offsets(const SegmentSeqlensCase& c) {
  validate(c);
  SegmentSeqlensOutputs o = segment_seqlens_alloc(c);
  const int64_t E = c.num_slices(), B = c.batch(), Tq = c.q_tokens(), Tk = c.kv_tokens();
  const int64_t S = c.max_segments_per_seq;
  for (int64_t e = 0; e < E; ++e) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = e * B + b;
      const auto qi = row_of(c.q_segment_ids, row, Tq), ki = row_of(c.kv_segment_ids, row, Tk);
      const auto qp = positions(c.q_segment_pos, qi, c.layout, e, b, B);
      const auto kp = positions(c.kv_segment_pos, ki, c.layout, e, b, B);
      put(o.q_segment_pos, row, qp);
      put(o.kv_segment_pos, row, kp);
      if (c.layout == QkvLayout::bshd) {
        const bool pad = mask_is_padding(c.mask);
        auto count = [&](const std::vector<int32_t>& ids) {
          return static_cast<int32_t>(pad ? std::count_if(ids.begin(), ids.end(), [](int32_t v) { return v != 0; })
                                          : static_cast<int64_t>(ids.size()));
        };
        o.q_seqlens.span<int32_t>()[row] = count(qi);
        o.kv_seqlens.span<int32_t>()[row] = count(ki);
        continue;
      }
      const auto rlq = run_length_fill(qi), rlk = run_length_fill(ki);
      std::vector<int32_t> row_ids(Tq, 0), col_ids(Tk, 0);
      for (int64_t i = 0; i < Tq; ++i) {
        for (int64_t j = 0; j < Tk; ++j) {
          bool allow = qi[i] == ki[j];
          if (mask_is_causal(c.mask)) allow = allow && qp[i] >= kp[j];
          if (mask_is_bottom_right(c.mask)) allow = allow && int64_t{rlq[i]} - qp[i] <= int64_t{rlk[j]} - kp[j];
          const int32_t m = allow ? qi[i] : 0;
          row_ids[i] = std::max(row_ids[i], m);
          col_ids[j] = std::max(col_ids[j], m);
        }
      }
      auto span_row = [&](Tensor& t, int64_t len) { return t.span<int32_t>().subspan(row * len, len); };
      seqlens_and_offsets(row_ids, S, span_row(o.q_seqlens, S), span_row(o.q_offsets, S + 1));
      seqlens_and_offsets(col_ids, S, span_row(o.kv_seqlens, S), span_row(o.kv_offsets, S + 1));
    }
  }
  return o;
}

}  // namespace lockstep::reference
