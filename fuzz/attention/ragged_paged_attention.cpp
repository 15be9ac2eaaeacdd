#include "fuzz/attention/ragged_paged_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/data.h"
#include "fuzz/core/pick.h"
#include "reference/attention/multi_item.h"

namespace lockstep::fuzz {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int32_t pick_q_len() {
  switch (pick({0, 0, 0, 1, 1, 1, 1, 2, 2})) {  // decode / short / long
    case 0: return 1;
    case 1: return *rc::gen::inRange(1, 17);
    default: return *rc::gen::inRange(17, 65);
  }
}

int32_t pick_prefix() {
  switch (pick({0, 0, 0, 0, 1, 1, 1, 1, 2})) {  // no cached prefix / short / long
    case 0: return 0;
    case 1: return *rc::gen::inRange(1, 65);
    default: return *rc::gen::inRange(65, 300);
  }
}

RpaSeqSpec pick_seq(bool multi_item, int32_t index) {
  RpaSeqSpec s;
  s.multi_item = multi_item;
  if (multi_item) {
    s.query_len = *rc::gen::inRange(1, 9);
    const int32_t n_items = *rc::gen::inRange(1, 9);
    for (int32_t k = 0; k < n_items; ++k) {  // 0 = empty item (only its delimiter: a 1-token segment)
      const int32_t kind = pick({1, 1, 0, 2, 2, 2, 2});
      s.item_lens.push_back(kind == 2 ? *rc::gen::inRange(2, 9) : kind);
    }
    s.q_len = s.query_len + 1;
    for (int32_t len : s.item_lens) s.q_len += len + 1;
    s.prefix = 0;
  } else {
    s.q_len = pick_q_len();
    s.prefix = pick_prefix();
  }
  s.slack_pages = pick({0, 1}) == 0 ? 0 : *rc::gen::inRange(1, 4);
  s.share_from = index > 0 && pick({false, false, false, true}) ? *rc::gen::inRange(0, index) : -1;
  return s;
}

RpaSpec pick_spec(bool force_multi_item) {
  RpaSpec spec;
  spec.dtype = pick({DType::f32, DType::bf16, DType::f16});  // every dtype validate() accepts
  spec.mode = force_multi_item ? pick({MaskMode::segment, MaskMode::dense})
                               : pick({MaskMode::causal, MaskMode::segment, MaskMode::dense});
  spec.num_kv_heads = pick({1, 2, 4});
  spec.group = pick({1, 2, 4, 8});
  spec.head_dim = pick({64, 64, 64, 64, 128, 128, 256});
  spec.page_size = pick({1, 4, 16});
  // Tiles: any size works on the CPU; keep the GPU's shared memory (<= ~200 KB) in reach.
  const int32_t max_rows = spec.head_dim >= 256 ? 32 : 64;
  std::vector<int32_t> bqs;
  for (int32_t b : {1, 2, 3, 4, 8, 16, 32})
    if (b * spec.group <= max_rows) bqs.push_back(b);
  spec.block_q = *shrinkable_element(bqs);
  std::vector<int32_t> bkvs;
  for (int32_t b : {1, 2, 3, 4, 8})
    if (b * spec.page_size <= 64) bkvs.push_back(b);
  spec.block_kv_pages = *shrinkable_element(bkvs);
  switch (pick({0, 0, 0, 1, 2})) {  // none / short / long window
    case 0: spec.sliding_window = 0; break;
    case 1: spec.sliding_window = *rc::gen::inRange(1, 9); break;
    default: spec.sliding_window = *rc::gen::inRange(9, 129); break;
  }
  spec.soft_cap = pick({0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 10.0, 30.0});
  // Logit scale (sm_scale multiplier, value amplitude): |logits| up to ~10 (levels 0-1), ~100 (2), ~1e3 (3)
  // and ~2e4 (4), where the f32 rounding of the softmax argument dominates the error (oracle/compare.h).
  switch (pick({0, 0, 0, 0, 1, 1, 2, 3, 4})) {
    case 0: spec.scale_mult = 1.0; break;
    case 1: spec.scale_mult = 4.0; break;
    case 2:
      spec.scale_mult = 16.0;
      spec.amplitude = 2.0;
      break;
    case 3:
      spec.scale_mult = 64.0;
      spec.amplitude = 4.0;
      break;
    default:
      spec.scale_mult = 256.0;
      spec.amplitude = 8.0;
      break;
  }
  const bool multi = spec.mode != MaskMode::causal;
  const int32_t n = pick({0, 0, 0, 1}) == 0 ? *rc::gen::inRange(1, 4) : *rc::gen::inRange(4, 9);
  for (int32_t i = 0; i < n; ++i) {
    const bool item = multi && (force_multi_item && i == 0 ? true : pick({true, true, false}));
    spec.seqs.push_back(pick_seq(item, i));
  }
  spec.padded_seqs = pick({0, 0, 1, 3});
  spec.padded_tokens = pick({0, 0, 5});
  spec.spare_pages = pick({0, 3});
  spec.stale_kind = pick({0, 1, 2, 3, 4, 5, 6});
  spec.data_seed = *rc::gen::noShrink(rc::gen::arbitrary<uint64_t>());
  return spec;
}

int32_t stale_value(int32_t kind, int64_t num_pages, SplitMix& rng) {
  switch (kind == 6 ? static_cast<int32_t>(rng.below(6)) : kind) {
    case 0: return static_cast<int32_t>(rng.below(num_pages));
    case 1: return -1;
    case 2: return static_cast<int32_t>(num_pages);
    case 3: return static_cast<int32_t>(num_pages + 1 + rng.below(1000));
    case 4: return std::numeric_limits<int32_t>::max();
    default: return std::numeric_limits<int32_t>::min();
  }
}

}  // namespace

std::vector<int32_t> multi_item_tokens(const RpaSeqSpec& s, uint64_t seed) {
  SplitMix rng{seed};
  std::vector<int32_t> tokens;
  auto word = [&] { return static_cast<int32_t>(100 + rng.below(900)); };
  for (int32_t i = 0; i < s.query_len; ++i) tokens.push_back(word());
  tokens.push_back(kDelimiter);
  for (int32_t len : s.item_lens) {
    for (int32_t i = 0; i < len; ++i) tokens.push_back(word());
    tokens.push_back(kDelimiter);
  }
  return tokens;
}

RpaCase materialize(const RpaSpec& spec) { return materialize(spec, spec.mode); }

RpaCase materialize(const RpaSpec& spec, MaskMode mode) {
  RpaCase c;
  c.dtype = spec.dtype;
  c.mode = mode;
  const int32_t n = static_cast<int32_t>(spec.seqs.size());
  const int32_t S = n + spec.padded_seqs;
  c.num_seqs = n;
  c.num_kv_heads = spec.num_kv_heads;
  c.num_q_heads = spec.num_kv_heads * spec.group;
  c.head_dim = spec.head_dim;
  c.page_size = spec.page_size;
  c.sm_scale = spec.scale_mult / std::sqrt(static_cast<double>(spec.head_dim));
  c.soft_cap = spec.soft_cap;
  c.sliding_window = spec.sliding_window;
  c.block_q = spec.block_q;
  c.block_kv_pages = spec.block_kv_pages;
  c.data_seed = static_cast<int64_t>(spec.data_seed & 0x7fffffffffffffffull);
  const int64_t page = spec.page_size;

  std::vector<int32_t> cu_q(S + 1, 0), kv_lens(S, 0), cu_kv(S + 1, 0);
  for (int32_t i = 0; i < S; ++i) {
    const bool real = i < n;
    const int32_t q = real ? spec.seqs[i].q_len : 0;
    kv_lens[i] = real ? spec.seqs[i].prefix + q : 0;
    cu_q[i + 1] = cu_q[i] + q;
    const int64_t cap = real ? cdiv(kv_lens[i], page) + spec.seqs[i].slack_pages : 0;
    cu_kv[i + 1] = static_cast<int32_t>(cu_kv[i] + cap * page);
  }
  const int64_t T = cu_q[S] + spec.padded_tokens;
  const int64_t used_slots = cu_kv[S] / page;
  const int64_t pages_per_seq = cdiv(used_slots + 1, S);
  const int64_t total_slots = pages_per_seq * S;

  // Physical pages: every live page of every sequence is private unless aliased as a shared full
  // prefix page; ids are a random permutation (scattered) of [0, P).
  SplitMix rng{spec.data_seed ^ 0x5eedull};
  std::vector<std::vector<int32_t>> logical(n);  // per sequence: owned page numbers (pre-permutation)
  int32_t next_page = 0;
  for (int32_t i = 0; i < n; ++i) {
    const RpaSeqSpec& s = spec.seqs[i];
    const int64_t live = cdiv(kv_lens[i], page);
    const int64_t full_prefix = s.prefix / page;  // pages entirely inside the cached prefix
    for (int64_t p = 0; p < live; ++p) {
      const int32_t src = s.share_from;
      if (src >= 0 && src < i && p < full_prefix && p < spec.seqs[src].prefix / page) {
        logical[i].push_back(logical[src][p]);
      } else {
        logical[i].push_back(next_page++);
      }
    }
  }
  const int64_t P = next_page + spec.spare_pages + 1;
  std::vector<int32_t> perm(P);
  for (int32_t i = 0; i < P; ++i) perm[i] = i;
  for (int64_t i = P - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);

  std::vector<int32_t> pages(total_slots, 0);
  for (int64_t s = 0; s < total_slots; ++s) pages[s] = stale_value(spec.stale_kind, P, rng);
  for (int32_t i = 0; i < n; ++i) {
    const int64_t first = cu_kv[i] / page;
    for (size_t p = 0; p < logical[i].size(); ++p) pages[first + p] = perm[logical[i][p]];
  }

  c.cu_q_lens = Tensor::from<int32_t>({S + 1}, cu_q);
  c.kv_lens = Tensor::from<int32_t>({S}, kv_lens);
  c.cu_kv_lens = Tensor::from<int32_t>({S + 1}, cu_kv);
  c.page_indices = Tensor::from<int32_t>({total_slots}, pages);

  const int64_t Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  c.q = Tensor(c.dtype, {T, Hq, D});
  c.k = Tensor(c.dtype, {T, Hkv, D});
  c.v = Tensor(c.dtype, {T, Hkv, D});
  c.kv_cache = Tensor(c.dtype, {P, page, 2 * Hkv, D});
  fill_uniform(c.q, spec.data_seed + 1, spec.amplitude);
  fill_uniform(c.k, spec.data_seed + 2, spec.amplitude);
  fill_uniform(c.v, spec.data_seed + 3, spec.amplitude);
  fill_uniform(c.kv_cache, spec.data_seed + 4, spec.amplitude);

  if (mode == MaskMode::segment) {
    std::vector<int32_t> pe(S, 0), rs(T, 0);
    for (int32_t i = 0; i < n; ++i) {
      if (!spec.seqs[i].multi_item) continue;
      const auto layout = reference::multi_item_layout(multi_item_tokens(spec.seqs[i], spec.data_seed + i), kDelimiter, i);
      pe[i] = layout.prefix_end;
      std::copy(layout.row_seg_starts.begin(), layout.row_seg_starts.end(), rs.begin() + cu_q[i]);
    }
    c.prefix_end = Tensor::from<int32_t>({S}, pe);
    c.row_seg_starts = Tensor::from<int32_t>({T}, rs);
  } else if (mode == MaskMode::dense) {
    std::vector<int32_t> mask;
    for (int32_t i = 0; i < n; ++i) {
      const auto m = spec.seqs[i].multi_item
                         ? reference::multi_item_dense_mask(multi_item_tokens(spec.seqs[i], spec.data_seed + i), kDelimiter, i)
                         : reference::causal_extend_mask(spec.seqs[i].q_len, kv_lens[i]);
      mask.insert(mask.end(), m.begin(), m.end());
    }
    c.custom_mask = Tensor::from<int32_t>({static_cast<int64_t>(mask.size())}, mask);
  }
  return c;
}

rc::Gen<RpaSpec> gen_rpa_spec() {
  return rc::gen::exec([] { return pick_spec(false); });
}

rc::Gen<RpaSpec> gen_rpa_multi_item_spec() {
  return rc::gen::exec([] { return pick_spec(true); });
}

rc::Gen<RpaCase> gen_rpa_case() {
  return rc::gen::map(gen_rpa_spec(), [](const RpaSpec& s) { return materialize(s); });
}

}  // namespace lockstep::fuzz

namespace lockstep::fuzz {

RpaCase single_sequence(const RpaCase& c, int64_t i) {
  RpaCase s = c;
  const int64_t q0 = c.cu_q_lens.get_int(i), q_len = c.q_len(i), kv_len = c.kv_len(i);
  const int64_t slot0 = c.cu_kv_lens.get_int(i) / c.page_size;
  const int64_t slots = (c.cu_kv_lens.get_int(i + 1) - c.cu_kv_lens.get_int(i)) / c.page_size;
  const int64_t Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  auto rows = [&](const Tensor& t, int64_t heads) {
    Tensor out(t.dtype(), {q_len, heads, D});
    const size_t row_bytes = static_cast<size_t>(heads * D) * dtype_size(t.dtype());
    copy_bytes(out.raw(), t.raw() + q0 * row_bytes, static_cast<size_t>(q_len) * row_bytes);
    return out;
  };
  s.num_seqs = 1;
  s.q = rows(c.q, Hq);
  s.k = rows(c.k, Hkv);
  s.v = rows(c.v, Hkv);
  s.kv_lens = Tensor::from<int32_t>({1}, {static_cast<int32_t>(kv_len)});
  s.cu_q_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(q_len)});
  s.cu_kv_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(slots * c.page_size)});
  std::vector<int32_t> pages(static_cast<size_t>(std::max<int64_t>(slots, 1)), 0);
  for (int64_t k = 0; k < slots; ++k) pages[k] = static_cast<int32_t>(c.page_indices.get_int(slot0 + k));
  s.page_indices = Tensor::from<int32_t>({static_cast<int64_t>(pages.size())}, pages);
  if (c.mode == MaskMode::segment) {
    s.prefix_end = Tensor::from<int32_t>({1}, {static_cast<int32_t>(c.prefix_end.get_int(i))});
    std::vector<int32_t> rs(static_cast<size_t>(q_len));
    for (int64_t j = 0; j < q_len; ++j) rs[j] = static_cast<int32_t>(c.row_seg_starts.get_int(q0 + j));
    s.row_seg_starts = Tensor::from<int32_t>({q_len}, rs);
  } else if (c.mode == MaskMode::dense) {
    int64_t base = 0;
    for (int64_t k = 0; k < i; ++k) base += int64_t{c.q_len(k)} * c.kv_len(k);
    std::vector<int32_t> m(static_cast<size_t>(q_len * kv_len));
    for (size_t k = 0; k < m.size(); ++k) m[k] = static_cast<int32_t>(c.custom_mask.get_int(base + k));
    s.custom_mask = Tensor::from<int32_t>({static_cast<int64_t>(m.size())}, m);
  }
  return s;
}

BatchingRule<RpaCase, RpaOutputs> rpa_batching_rule() {
  BatchingRule<RpaCase, RpaOutputs> rule;
  rule.slices = [](const RpaCase& c) { return c.num_seqs; };
  rule.slice_case = single_sequence;
  rule.slice_outputs = [](const RpaOutputs& o, const RpaCase& c, int64_t i) {
    const int64_t q0 = c.cu_q_lens.get_int(i), q_len = c.q_len(i);
    RpaOutputs s;
    s.out = Tensor(o.out.dtype(), {q_len, c.num_q_heads, c.head_dim});  // (q_len, Hq, D)
    copy_bytes(s.out.raw(), o.out.raw() + q0 * (s.out.nbytes() / std::max<int64_t>(q_len, 1)), s.out.nbytes());
    return s;  // kv_cache left absent: not per sequence
  };
  return rule;
}

}  // namespace lockstep::fuzz
