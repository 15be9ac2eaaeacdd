#include "fuzz/metadata/segment_seqlens_offsets.h"

#include <algorithm>

#include "core/data.h"
#include "fuzz/core/pick.h"
#include "reference/metadata/segment_seqlens_offsets.h"

namespace lockstep::fuzz {
namespace {

/// One row of T ids: up to `segments` packed segments with padding runs, per the spec's odd-id mode.
std::vector<int32_t> make_ids(SplitMix& rng, int64_t T, const SegmentSpec& spec) {
  std::vector<int32_t> ids(static_cast<size_t>(T), 0);
  if (rng.below(8) == 0) return ids;  // an all-padding row
  int64_t t = rng.below(4) == 0 ? rng.below(3) : 0;  // leading padding
  int32_t id = 1;
  for (int32_t s = 0; s < spec.segments && t < T; ++s) {
    const int64_t len = 1 + rng.below(std::max<int64_t>(1, T / std::max(1, spec.segments) + 1));
    int32_t v = id++;
    if (spec.odd_ids == 1 && s > 0 && rng.below(3) == 0) v = 1;  // an id reused
    if (spec.odd_ids == 2 && rng.below(3) == 0) v = spec.max_segments + 1 + static_cast<int32_t>(rng.below(3));
    for (int64_t u = 0; u < len && t < T; ++u) ids[t++] = v;
    if (rng.below(4) == 0) t += 1 + rng.below(2);  // padding between segments
  }
  return ids;
}

/// One BSHD row: ones, then padding.
std::vector<int32_t> make_bshd_ids(SplitMix& rng, int64_t T) {
  std::vector<int32_t> ids(static_cast<size_t>(T), 0);
  std::fill(ids.begin(), ids.begin() + rng.below(T + 1), 1);
  return ids;
}

std::vector<int32_t> make_pos(SplitMix& rng, const std::vector<int32_t>& ids, int32_t kind, bool kv) {
  std::vector<int32_t> p(ids.size());
  const int64_t T = static_cast<int64_t>(ids.size());
  switch (kind) {
    case 0: p = reference::thd_positions_from_ids(ids); break;
    case 1:
      for (int64_t t = 0; t < T; ++t) p[t] = static_cast<int32_t>(t);
      break;
    case 2: {  // striped context parallelism: q holds even positions, kv odd ones
      const auto base = reference::thd_positions_from_ids(ids);
      for (int64_t t = 0; t < T; ++t) p[t] = 2 * base[t] + (kv ? 1 : 0);
      break;
    }
    default:
      for (int64_t t = 0; t < T; ++t) p[t] = static_cast<int32_t>(rng.below(std::max<int64_t>(T, 1)));
  }
  return p;
}

std::vector<int32_t> flatten(const std::vector<std::vector<int32_t>>& rows) {
  std::vector<int32_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return flat;
}

Shape pos_shape(const SegmentSpec& spec, int32_t dims, int64_t T) {
  Shape s(spec.extra.end() - dims, spec.extra.end());
  s.push_back(spec.batch);
  s.push_back(T);
  return s;
}

}  // namespace

SegmentSeqlensCase materialize(const SegmentSpec& spec) {
  SplitMix rng{spec.data_seed};
  SegmentSeqlensCase c;
  c.layout = spec.layout;
  c.mask = spec.mask;
  c.max_segments_per_seq = spec.max_segments;
  const int64_t E = shape_numel(spec.extra), B = spec.batch;
  const int64_t Tq = spec.q_tokens, Tk = spec.self_attention ? spec.q_tokens : spec.kv_tokens;
  std::vector<std::vector<int32_t>> qi, ki;
  for (int64_t r = 0; r < E * B; ++r) {
    qi.push_back(spec.layout == QkvLayout::bshd ? make_bshd_ids(rng, Tq) : make_ids(rng, Tq, spec));
    if (spec.self_attention) {
      ki.push_back(qi.back());
    } else {
      std::vector<int32_t> k(static_cast<size_t>(Tk), 0);
      const auto& q = qi.back();
      // Cross attention: kv rows share the q row's segment ids, stretched or shrunk to Tkv.
      for (int64_t t = 0; t < Tk; ++t) k[t] = Tq == 0 ? 0 : q[std::min<int64_t>(Tq - 1, t * Tq / Tk)];
      if (rng.below(4) == 0 && Tk > 0) k[rng.below(Tk)] = 0;
      ki.push_back(k);
    }
  }
  Shape qs = spec.extra, ks = spec.extra;
  qs.insert(qs.end(), {B, Tq});
  ks.insert(ks.end(), {B, Tk});
  c.q_segment_ids = Tensor::from<int32_t>(qs, flatten(qi));
  c.kv_segment_ids = Tensor::from<int32_t>(ks, flatten(ki));
  auto positions = [&](int32_t dims, const std::vector<std::vector<int32_t>>& ids, int64_t T, bool kv) {
    if (dims < 0) return Tensor();  // generated from the ids
    const Shape shape = pos_shape(spec, dims, T);
    std::vector<int32_t> flat;
    for (int64_t r = 0; r < shape_numel(Shape(shape.begin(), shape.end() - 1)); ++r) {
      // Position row r is built from ids row r (a real packing of the first slices) when it exists.
      const auto p = make_pos(rng, r < static_cast<int64_t>(ids.size()) ? ids[r] : std::vector<int32_t>(T, 1),
                              spec.pos_kind, kv);
      flat.insert(flat.end(), p.begin(), p.end());
    }
    return Tensor::from<int32_t>(shape, flat);
  };
  c.q_segment_pos = positions(spec.q_pos_dims, qi, Tq, false);
  const bool shared = spec.self_attention && spec.pos_kind != 2 && spec.kv_pos_dims == spec.q_pos_dims;
  c.kv_segment_pos = shared ? c.q_segment_pos : positions(spec.kv_pos_dims, ki, Tk, true);
  return c;
}

rc::Gen<SegmentSpec> gen_segment_spec() {
  return rc::gen::exec([] {
    SegmentSpec s;
    s.layout = pick({QkvLayout::thd, QkvLayout::thd, QkvLayout::thd, QkvLayout::bshd});
    s.mask = pick({AttnMask::padding, AttnMask::no_mask, AttnMask::causal, AttnMask::padding_causal,
                   AttnMask::causal_bottom_right, AttnMask::padding_causal_bottom_right});
    s.max_segments = *rc::gen::inRange(1, 7);
    s.batch = *rc::gen::inRange(1, 4);
    s.q_tokens = *rc::gen::weightedOneOf<int32_t>({{1, rc::gen::just(0)}, {6, rc::gen::inRange(1, 17)}, {2, rc::gen::inRange(1, 48)}});
    s.self_attention = pick({true, true, false});
    s.kv_tokens = s.self_attention ? s.q_tokens : *rc::gen::inRange(0, 33);
    s.extra = pick_extra_dims();
    const int32_t n = static_cast<int32_t>(s.extra.size());
    auto pos_dims = [n] {  // generated | unbatched (B, T) | batched over all | over some trailing extra dims
      switch (pick({0, 1, 1, 2, 3, 3})) {
        case 0: return -1;
        case 1: return 0;
        case 2: return n;
        default: {
          std::vector<int32_t> dims;
          for (int32_t d = 0; d <= n; ++d) dims.push_back(d);
          return *shrinkable_element(dims);
        }
      }
    };
    s.q_pos_dims = pos_dims();
    s.kv_pos_dims = pos_dims();
    s.pos_kind = *rc::gen::inRange(0, 4);
    s.segments = *rc::gen::inRange(1, s.max_segments + 2);
    s.odd_ids = pick({0, 0, 0, 0, 0, 0, 1, 2});
    s.data_seed = *rc::gen::arbitrary<uint64_t>();
    return s;
  });
}

rc::Gen<SegmentSeqlensCase> gen_segment_case() {
  return rc::gen::map(gen_segment_spec(), [](const SegmentSpec& s) { return materialize(s); });
}

BatchingRule<SegmentSeqlensCase, SegmentSeqlensOutputs> segment_batching_rule() {
  BatchingRule<SegmentSeqlensCase, SegmentSeqlensOutputs> rule;
  rule.slices = [](const SegmentSeqlensCase& c) { return c.num_slices(); };
  rule.leading_shape = [](const SegmentSeqlensCase& c) { return c.extra_shape(); };
  rule.slice_case = [](const SegmentSeqlensCase& c, int64_t i) {
    const size_t n = c.extra_shape().size();
    SegmentSeqlensCase s = c;
    s.q_segment_ids = slice_leading(c.q_segment_ids, n, i);
    s.kv_segment_ids = slice_leading(c.kv_segment_ids, n, i);
    auto pos = [&](const Tensor& p) {
      const int64_t slices = segment_pos_slices(p);
      return slices == 0 ? Tensor() : slice_leading(p, p.rank() - 2, i % slices);
    };
    s.q_segment_pos = pos(c.q_segment_pos);
    s.kv_segment_pos = pos(c.kv_segment_pos);
    return s;
  };
  rule.slice_outputs = [](const SegmentSeqlensOutputs& o, const SegmentSeqlensCase& c, int64_t i) {
    const size_t n = c.extra_shape().size();
    SegmentSeqlensOutputs s;
    for_each_field(s, [&, k = 0](const char*, Tensor& t) mutable {
      std::vector<const Tensor*> src{&o.q_seqlens, &o.kv_seqlens, &o.q_offsets, &o.kv_offsets, &o.q_segment_pos,
                                     &o.kv_segment_pos};
      const Tensor& from = *src[k++];
      t = from.rank() > n ? slice_leading(from, n, i) : from;  // BSHD offsets are empty (rank 1) in both
    });
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
