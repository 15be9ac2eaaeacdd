#include "core/metadata/segment_seqlens_offsets.h"

namespace lockstep {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 26;  // per tensor; metadata cases are small
constexpr int64_t kMaxTokens = 1 << 16;             // per row (the O(Tq*Tkv) reference stays bounded)

Shape leading(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

void check_ids(const Tensor& ids, const std::string& name) {
  const std::string field = "case." + name;
  require(ids.dtype() == DType::i32, field, ids.describe(), "dtype must be i32");
  require(ids.rank() >= 2, field, ids.describe(), "must have rank >= 2: (extra batch dims..., B, T)");
  require(ids.rank() <= 8, field, ids.describe(), "must have rank <= 8");
  require(ids.numel() <= kMaxElements, field, ids.describe(), "too many elements");
  require(ids.dim(ids.rank() - 1) <= kMaxTokens, field, ids.describe(), "too many tokens per row");
  auto v = ids.span<int32_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0)
      throw Error(fmt::format("{}[{}]", field, i), std::to_string(v[i]), "segment ids must be >= 0 (0 = padding)");
  }
}

void check_pos(const Tensor& pos, const Tensor& ids, const std::string& pos_name, const std::string& ids_name) {
  if (pos.rank() == 0 || (pos.empty() && pos.rank() == 1)) return;  // absent: generated from the ids
  const std::string field = "case." + pos_name;
  require(pos.dtype() == DType::i32, field, pos.describe(), "dtype must be i32");
  require(pos.rank() <= ids.rank(), field, pos.describe(),
          fmt::format("has more dims than {} {}: segment ids must not have fewer dims than segment positions",
                      ids_name, ids.describe()));
  require(pos.rank() >= 2, field, pos.describe(), "must have rank >= 2: (extra batch dims..., B, T)");
  const Shape tail(ids.shape().end() - static_cast<std::ptrdiff_t>(pos.rank()), ids.shape().end());
  require(pos.shape() == tail, field, pos.describe(),
          fmt::format("trailing shape must match {} {} (expected {})", ids_name, ids.describe(), shape_str(tail)));
}

}  // namespace

Shape SegmentSeqlensCase::extra_shape() const { return leading(q_segment_ids); }

int64_t segment_pos_slices(const Tensor& pos) {
  if (pos.rank() < 2) return 0;
  return shape_numel(leading(pos));
}

void validate(const SegmentSeqlensCase& c) {
  require(c.max_segments_per_seq >= 1 && c.max_segments_per_seq <= 4096, "case.max_segments_per_seq",
          c.max_segments_per_seq, "must be in [1, 4096]");
  check_ids(c.q_segment_ids, "q_segment_ids");
  check_ids(c.kv_segment_ids, "kv_segment_ids");
  const Shape eq = leading(c.q_segment_ids), ekv = leading(c.kv_segment_ids);
  if (eq.empty() != ekv.empty()) {
    const bool q_empty = eq.empty();
    throw Error(q_empty ? "case.q_segment_ids" : "case.kv_segment_ids",
                (q_empty ? c.q_segment_ids : c.kv_segment_ids).describe(),
                fmt::format("has an empty extra batch shape while {} has extra batch dims {}: q and kv segment ids "
                            "must carry the same extra batch dims",
                            q_empty ? "kv_segment_ids" : "q_segment_ids", shape_str(q_empty ? ekv : eq)));
  }
  require(eq == ekv, "case.kv_segment_ids", c.kv_segment_ids.describe(),
          fmt::format("extra batch dims {} differ from q_segment_ids' {}: q and kv must carry the same extra "
                      "batch shape",
                      shape_str(ekv), shape_str(eq)));
  require(c.batch() == c.kv_segment_ids.dim(c.kv_segment_ids.rank() - 2), "case.kv_segment_ids",
          c.kv_segment_ids.describe(), fmt::format("batch dim must equal q_segment_ids' {}", c.batch()));
  check_pos(c.q_segment_pos, c.q_segment_ids, "q_segment_pos", "q_segment_ids");
  check_pos(c.kv_segment_pos, c.kv_segment_ids, "kv_segment_pos", "kv_segment_ids");
}

SegmentSeqlensOutputs segment_seqlens_alloc(const SegmentSeqlensCase& c) {
  SegmentSeqlensOutputs o;
  Shape rows = c.extra_shape();
  rows.push_back(c.batch());
  auto with = [&](int64_t last) {
    Shape s = rows;
    s.push_back(last);
    return s;
  };
  if (c.layout == QkvLayout::thd) {
    o.q_seqlens = Tensor(DType::i32, with(c.max_segments_per_seq));
    o.kv_seqlens = Tensor(DType::i32, with(c.max_segments_per_seq));
    o.q_offsets = Tensor(DType::i32, with(c.max_segments_per_seq + 1));
    o.kv_offsets = Tensor(DType::i32, with(c.max_segments_per_seq + 1));
  } else {
    o.q_seqlens = Tensor(DType::i32, rows);
    o.kv_seqlens = Tensor(DType::i32, rows);
    o.q_offsets = Tensor(DType::i32, {0});
    o.kv_offsets = Tensor(DType::i32, {0});
  }
  o.q_segment_pos = Tensor(DType::i32, c.q_segment_ids.shape());
  o.kv_segment_pos = Tensor(DType::i32, c.kv_segment_ids.shape());
  return o;
}

}  // namespace lockstep
