#include "fuzz/kvcache/kv_sharing.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/data.h"
#include "fuzz/core/pick.h"

namespace lockstep::fuzz {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::vector<int32_t> pick_layer_types(int32_t L) {
  std::vector<int32_t> t(static_cast<size_t>(L), 0);
  switch (pick({0, 1, 2, 3, 3, 4, 4})) {
    case 0: break;  // all sliding
    case 1:         // all full
      std::fill(t.begin(), t.end(), 1);
      break;
    case 2: {  // alternating, either phase
      const int32_t phase = pick({0, 1});
      for (int32_t l = 0; l < L; ++l) t[l] = (l + phase) % 2;
      break;
    }
    case 3: {  // Gemma-4: every `period`-th layer full, the last layer forced to full
      const int32_t period = pick({6, 2, 3, 4});
      for (int32_t l = 0; l < L; ++l) t[l] = (l + 1) % period == 0;
      t[L - 1] = 1;
      break;
    }
    default:
      for (int32_t l = 0; l < L; ++l) t[l] = pick({0, 1});
      break;
  }
  return t;
}

KvSharingReqSpec pick_req(int32_t kind) {
  KvSharingReqSpec r;
  switch (kind) {
    case 0:  // decode
      r.q_len = 1;
      r.logits = 1;
      r.prefix = pick({0, 1, 1}) ? *rc::gen::inRange(1, 40) : 0;
      break;
    case 1:  // idle slot: nothing scheduled this step
      r.q_len = 0;
      r.logits = 0;
      r.prefix = pick({0, 1}) ? *rc::gen::inRange(1, 20) : 0;
      break;
    case 2:  // prefill chunk: the last token's logits (vLLM samples every chunk) or none
      r.q_len = *rc::gen::inRange(2, 25);
      r.logits = pick({1, 1, 1, 0});
      r.prefix = pick({0, 1}) ? *rc::gen::inRange(1, 40) : 0;
      break;
    default:  // verify block: every position's logits, or a suffix
      r.q_len = *rc::gen::inRange(2, 9);
      r.logits = pick({0, 1}) ? r.q_len : *rc::gen::inRange(1, r.q_len + 1);
      r.prefix = *rc::gen::inRange(1, 40);
      break;
  }
  r.slack_pages = pick({0, 0, 1, 2});
  return r;
}

KvSharingSpec pick_spec() {
  KvSharingSpec s;
  s.dtype = pick({DType::f32, DType::bf16, DType::f16});
  // Uniform over this weighted list at every size, shrinking toward 1 layer.
  const int32_t L = *shrinkable_element<int32_t>({1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12});
  s.layer_types = pick_layer_types(L);
  // Modes rather than a raw count, so that shrinking L keeps the mode (one shared layer first): 0 and L each
  // ~1/7, the rest in between.
  switch (pick({0, 0, 1, 2, 3, 3, 4})) {
    case 0: s.num_kv_shared_layers = std::min(1, L); break;
    case 1: s.num_kv_shared_layers = 0; break;
    case 2: s.num_kv_shared_layers = L; break;
    case 3: s.num_kv_shared_layers = L / 2; break;
    default: s.num_kv_shared_layers = *rc::gen::inRange(0, L + 1); break;
  }
  const int32_t batch = pick({0, 1, 1, 1});  // 0: pure decode (+ idle slots), 1: mixed
  const int32_t R = *rc::gen::inRange(1, 6);
  for (int32_t r = 0; r < R; ++r) {
    const int32_t kind = batch == 0 ? pick({0, 0, 0, 1}) : pick({0, 2, 2, 3, 3, 1});
    s.reqs.push_back(pick_req(kind));
  }
  int32_t n = 0;
  for (const KvSharingReqSpec& r : s.reqs) n += r.logits;
  if (n == 0) {  // fast_prefill_forward asserts n > 0: the first request with tokens samples its last one
    auto it = std::find_if(s.reqs.begin(), s.reqs.end(), [](const KvSharingReqSpec& r) { return r.q_len > 0; });
    if (it != s.reqs.end()) it->logits = 1;
    else s.reqs[0] = pick_req(0);
  }
  s.num_kv_heads = pick({1, 2});
  s.group = pick({1, 2, 4});
  s.head_dim = pick({4, 1, 3, 8, 16, 32});
  s.page_size = pick({1, 2, 4, 16});
  s.sliding_window = pick({0, 1}) ? *rc::gen::inRange(1, 9) : *rc::gen::inRange(9, 64);
  s.block_q = pick({8, 1, 2, 4, 16});
  s.block_kv_pages = pick({2, 1, 3, 4});
  switch (pick({0, 0, 1, 2})) {  // logits up to ~10, ~100, ~1e3
    case 0: break;
    case 1:
      s.scale_mult = 8.0;
      s.amplitude = 2.0;
      break;
    default:
      s.scale_mult = 32.0;
      s.amplitude = 4.0;
      break;
  }
  s.padded_tokens = pick({0, 0, 3});
  s.padded_logits = pick({0, 0, 1, 4});
  s.pad_kind = pick({0, 1, 2, 3});
  s.spare_pages = pick({0, 2});
  s.data_seed = *rc::gen::noShrink(rc::gen::arbitrary<uint64_t>());
  return s;
}

}  // namespace

KvSharingCase materialize(const KvSharingSpec& spec) {
  KvSharingCase c;
  const int32_t L = static_cast<int32_t>(spec.layer_types.size()), R = static_cast<int32_t>(spec.reqs.size());
  c.dtype = spec.dtype;
  c.num_layers = L;
  c.num_kv_shared_layers = spec.num_kv_shared_layers;
  c.num_reqs = R;
  c.num_kv_heads = spec.num_kv_heads;
  c.num_q_heads = spec.num_kv_heads * spec.group;
  c.head_dim = spec.head_dim;
  c.page_size = spec.page_size;
  c.sm_scale = spec.scale_mult / std::sqrt(static_cast<double>(spec.head_dim));
  c.sliding_window = spec.sliding_window;
  c.block_q = spec.block_q;
  c.block_kv_pages = spec.block_kv_pages;
  c.data_seed = static_cast<int64_t>(spec.data_seed & 0x7fffffffffffffffull);
  const int64_t page = spec.page_size;

  std::vector<int32_t> qsl(R + 1, 0), seq_lens(R, 0), cu_kv(R + 1, 0), li;
  int32_t max_q = 0;
  for (int32_t r = 0; r < R; ++r) {
    const KvSharingReqSpec& q = spec.reqs[r];
    qsl[r + 1] = qsl[r] + q.q_len;
    seq_lens[r] = q.prefix + q.q_len;
    max_q = std::max(max_q, q.q_len);
    cu_kv[r + 1] = static_cast<int32_t>(cu_kv[r] + (cdiv(seq_lens[r], page) + q.slack_pages) * page);
    for (int32_t j = q.q_len - q.logits; j < q.q_len; ++j) li.push_back(qsl[r] + j);
  }
  c.max_query_len = max_q;
  c.num_logits_indices = static_cast<int64_t>(li.size());
  const int32_t T = qsl[R] + spec.padded_tokens;
  for (int32_t k = 0; k < spec.padded_logits; ++k) {  // CUDA-graph padding: never read
    switch (spec.pad_kind) {
      case 0: li.push_back(0); break;
      case 1: li.push_back(li.empty() ? 0 : li.back()); break;
      case 2: li.push_back(T + 7); break;
      default: li.push_back(k % 2 ? -1 : std::numeric_limits<int32_t>::max()); break;
    }
  }

  // Pages: private per request, a random permutation of [0, P); slack entries point at foreign pages.
  SplitMix rng{spec.data_seed ^ 0x7ac0ull};
  const int64_t slots = std::max<int64_t>(cu_kv[R] / page, 1);
  int64_t live = 0;
  for (int32_t r = 0; r < R; ++r) live += cdiv(seq_lens[r], page);
  const int64_t P = live + spec.spare_pages + 1;
  std::vector<int32_t> perm(P);
  for (int64_t i = 0; i < P; ++i) perm[i] = static_cast<int32_t>(i);
  for (int64_t i = P - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  std::vector<int32_t> pages(static_cast<size_t>(slots), 0);
  for (auto& p : pages) p = static_cast<int32_t>(rng.below(P));
  int64_t next = 0;
  for (int32_t r = 0; r < R; ++r)
    for (int64_t p = 0; p < cdiv(seq_lens[r], page); ++p) pages[cu_kv[r] / page + p] = perm[next++];

  c.layer_types = Tensor::from<int32_t>({L}, spec.layer_types);
  c.query_start_loc = Tensor::from<int32_t>({R + 1}, qsl);
  c.seq_lens = Tensor::from<int32_t>({R}, seq_lens);
  c.logits_indices_padded = Tensor::from<int32_t>({static_cast<int64_t>(li.size())}, li);
  c.cu_kv_lens = Tensor::from<int32_t>({R + 1}, cu_kv);
  c.page_indices = Tensor::from<int32_t>({slots}, pages);
  const int64_t Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  c.q = Tensor(c.dtype, {L, T, Hq, D});
  c.k = Tensor(c.dtype, {L, T, Hkv, D});
  c.v = Tensor(c.dtype, {L, T, Hkv, D});
  c.kv_cache = Tensor(c.dtype, {L, P, page, 2 * Hkv, D});
  fill_uniform(c.q, spec.data_seed + 1, spec.amplitude);
  fill_uniform(c.k, spec.data_seed + 2, spec.amplitude);
  fill_uniform(c.v, spec.data_seed + 3, spec.amplitude);
  fill_uniform(c.kv_cache, spec.data_seed + 4, spec.amplitude);
  return c;
}

rc::Gen<KvSharingSpec> gen_kv_sharing_spec() {
  return rc::gen::exec([] { return pick_spec(); });
}

rc::Gen<KvSharingCase> gen_kv_sharing_case() {
  return rc::gen::map(gen_kv_sharing_spec(), [](const KvSharingSpec& s) { return materialize(s); });
}

}  // namespace lockstep::fuzz

namespace lockstep::fuzz {

std::vector<int64_t> kv_sharing_sliceable_requests(const KvSharingCase& c) {
  std::vector<int64_t> reqs;
  int64_t k = 0;
  for (int64_t r = 0; r < c.num_reqs; ++r) {
    bool any = false;
    while (k < c.num_logits_indices && c.logits_indices_padded.get_int(k) < c.query_start_loc.get_int(r + 1)) {
      any = true;
      ++k;
    }
    if (any) reqs.push_back(r);
  }
  return reqs;
}

KvSharingCase single_request(const KvSharingCase& c, int64_t r) {
  KvSharingCase s = c;
  const int64_t q0 = c.query_start_loc.get_int(r), q_len = c.q_len(r), L = c.num_layers;
  const int64_t slot0 = c.cu_kv_lens.get_int(r) / c.page_size;
  const int64_t slots = (c.cu_kv_lens.get_int(r + 1) - c.cu_kv_lens.get_int(r)) / c.page_size;
  auto rows = [&](const Tensor& t) {  // (L, T, H, D) -> (L, q_len, H, D)
    const int64_t T = t.dim(1);
    const size_t row = static_cast<size_t>(t.dim(2) * t.dim(3)) * dtype_size(t.dtype());
    Tensor out(t.dtype(), {L, q_len, t.dim(2), t.dim(3)});
    for (int64_t l = 0; l < L; ++l)
      copy_bytes(out.raw() + l * q_len * row, t.raw() + (l * T + q0) * row, static_cast<size_t>(q_len) * row);
    return out;
  };
  s.num_reqs = 1;
  s.max_query_len = q_len;
  s.q = rows(c.q);
  s.k = rows(c.k);
  s.v = rows(c.v);
  s.query_start_loc = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(q_len)});
  s.seq_lens = Tensor::from<int32_t>({1}, {static_cast<int32_t>(c.seq_lens.get_int(r))});
  s.cu_kv_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(slots * c.page_size)});
  std::vector<int32_t> pages(static_cast<size_t>(std::max<int64_t>(slots, 1)), 0);
  for (int64_t k = 0; k < slots; ++k) pages[k] = static_cast<int32_t>(c.page_indices.get_int(slot0 + k));
  s.page_indices = Tensor::from<int32_t>({static_cast<int64_t>(pages.size())}, pages);
  std::vector<int32_t> li;
  for (int64_t k = 0; k < c.num_logits_indices; ++k) {
    const int64_t t = c.logits_indices_padded.get_int(k);
    if (t >= q0 && t < q0 + q_len) li.push_back(static_cast<int32_t>(t - q0));
  }
  s.num_logits_indices = static_cast<int64_t>(li.size());
  s.logits_indices_padded = Tensor::from<int32_t>({s.num_logits_indices}, li);
  return s;
}

BatchingRule<KvSharingCase, KvSharingOutputs> kv_sharing_batching_rule() {
  BatchingRule<KvSharingCase, KvSharingOutputs> rule;
  rule.slices = [](const KvSharingCase& c) { return static_cast<int64_t>(kv_sharing_sliceable_requests(c).size()); };
  rule.slice_case = [](const KvSharingCase& c, int64_t i) {
    return single_request(c, kv_sharing_sliceable_requests(c)[static_cast<size_t>(i)]);
  };
  rule.slice_outputs = [](const KvSharingOutputs& o, const KvSharingCase& c, int64_t i) {
    const int64_t r = kv_sharing_sliceable_requests(c)[static_cast<size_t>(i)];
    const int64_t q0 = c.query_start_loc.get_int(r), q_len = c.q_len(r), L = c.num_layers, T = c.num_tokens();
    const int64_t k0 = o.query_start_loc.get_int(r), count = o.query_start_loc.get_int(r + 1) - k0;
    KvSharingOutputs s;
    s.kv_source = o.kv_source;
    s.config_error = o.config_error;
    s.query_start_loc = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(count)});
    s.num_actual_tokens = count;
    s.seq_lens = Tensor::from<int32_t>({1}, {static_cast<int32_t>(c.seq_lens.get_int(r))});
    if (!o.config_error.empty()) return s;
    std::vector<int32_t> writes(static_cast<size_t>(L * q_len));
    for (int64_t l = 0; l < L; ++l)
      for (int64_t j = 0; j < q_len; ++j) writes[l * q_len + j] = static_cast<int32_t>(o.slot_writes.get_int(l * T + q0 + j));
    s.slot_writes = Tensor::from<int32_t>({L, q_len}, writes);
    const int64_t Hq = o.out.dim(2), D = o.out.dim(3);
    const size_t row = static_cast<size_t>(Hq * D) * dtype_size(o.out.dtype());
    s.out = Tensor(o.out.dtype(), {L, q_len, Hq, D});
    for (int64_t l = 0; l < L; ++l) {
      const bool shared = o.kv_source.get_int(l) != kKvSourceNotShared;
      const int64_t from = shared ? k0 : q0, n = shared ? count : q_len;
      copy_bytes(s.out.raw() + l * q_len * row, o.out.raw() + (l * T + from) * row, static_cast<size_t>(n) * row);
    }
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
