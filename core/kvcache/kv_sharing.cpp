#include "core/kvcache/kv_sharing.h"

#include <cmath>
#include <map>

namespace lockstep {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;  // per tensor; cases are test inputs, not models
constexpr int64_t kMaxSeqLen = int64_t{1} << 20;    // the reference holds (seq_len, D) doubles per head

void check_tensor(const Tensor& t, const std::string& name, DType dt, const Shape& shape) {
  require(t.dtype() == dt, "case." + name, t.describe(), fmt::format("dtype must be {}", dtype_name(dt)));
  require(t.shape() == shape, "case." + name, t.describe(), fmt::format("shape must be {}", shape_str(shape)));
  require(t.numel() <= kMaxElements, "case." + name, t.describe(), "too many elements");
}

}  // namespace

void validate(const KvSharingCase& c) {
  require_ranges(c, "case");
  require(is_floating(c.dtype), "case.dtype", dtype_name(c.dtype), "must be f32, bf16 or f16");
  require(c.num_kv_shared_layers <= c.num_layers, "case.num_kv_shared_layers", c.num_kv_shared_layers,
          fmt::format("must be <= num_layers = {}", c.num_layers));
  require(c.num_q_heads % c.num_kv_heads == 0, "case.num_q_heads", c.num_q_heads,
          fmt::format("must be a multiple of num_kv_heads = {}", c.num_kv_heads));
  require(std::isfinite(c.sm_scale), "case.sm_scale", c.sm_scale, "must be finite");

  const int64_t L = c.num_layers, R = c.num_reqs;
  check_tensor(c.layer_types, "layer_types", DType::i32, {L});
  for (int64_t l = 0; l < L; ++l) {
    const int64_t t = c.layer_types.get_int(l);
    require(t == 0 || t == 1, fmt::format("case.layer_types[{}]", l), t,
            "must be 0 (sliding_attention) or 1 (full_attention)");
  }

  require(c.q.rank() == 4, "case.q", c.q.describe(), "must have rank 4 (layers, tokens, heads, head_dim)");
  const int64_t T = c.q.dim(1), Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  check_tensor(c.q, "q", c.dtype, {L, T, Hq, D});
  check_tensor(c.k, "k", c.dtype, {L, T, Hkv, D});
  check_tensor(c.v, "v", c.dtype, {L, T, Hkv, D});
  require(c.kv_cache.rank() == 5, "case.kv_cache", c.kv_cache.describe(),
          "must have rank 5 (layers, pages, page_size, 2*num_kv_heads, head_dim)");
  const int64_t P = c.kv_cache.dim(1);
  check_tensor(c.kv_cache, "kv_cache", c.dtype, {L, P, c.page_size, 2 * Hkv, D});
  require(P >= 1 && P < (int64_t{1} << 31) / c.page_size, "case.kv_cache", c.kv_cache.describe(),
          "needs 1 to 2^31 / page_size pages");

  // The ragged batch.
  check_tensor(c.query_start_loc, "query_start_loc", DType::i32, {R + 1});
  check_tensor(c.seq_lens, "seq_lens", DType::i32, {R});
  check_tensor(c.cu_kv_lens, "cu_kv_lens", DType::i32, {R + 1});
  require(c.page_indices.rank() == 1, "case.page_indices", c.page_indices.describe(), "must have rank 1");
  check_tensor(c.page_indices, "page_indices", DType::i32, {c.page_indices.numel()});
  require(c.query_start_loc.get_int(0) == 0, "case.query_start_loc[0]", c.query_start_loc.get_int(0), "must be 0");
  require(c.cu_kv_lens.get_int(0) == 0, "case.cu_kv_lens[0]", c.cu_kv_lens.get_int(0), "must be 0");
  int64_t max_q = 0;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t q0 = c.query_start_loc.get_int(r), q1 = c.query_start_loc.get_int(r + 1);
    const int64_t kv = c.seq_lens.get_int(r);
    require(q1 >= q0, fmt::format("case.query_start_loc[{}]", r + 1), q1, fmt::format("decreases (previous {})", q0));
    require(q1 <= T, fmt::format("case.query_start_loc[{}]", r + 1), q1,
            fmt::format("exceeds the token rows {} of q", T));
    require(kv >= q1 - q0 && kv <= kMaxSeqLen, fmt::format("case.seq_lens[{}]", r), kv,
            fmt::format("must be in [q_len = {}, {}] (cached prefix + new tokens)", q1 - q0, kMaxSeqLen));
    max_q = std::max(max_q, q1 - q0);
    const int64_t c0 = c.cu_kv_lens.get_int(r), c1 = c.cu_kv_lens.get_int(r + 1);
    const int64_t aligned = (kv + c.page_size - 1) / c.page_size * c.page_size;
    require(c0 % c.page_size == 0 && c1 % c.page_size == 0 && c1 - c0 >= aligned,
            fmt::format("case.cu_kv_lens[{}]", r + 1), c1,
            fmt::format("must be a multiple of page_size = {} leaving >= align(seq_len = {}) = {} slots after {}",
                        c.page_size, kv, aligned, c0));
    require(c1 / c.page_size <= c.page_indices.numel(), fmt::format("case.cu_kv_lens[{}]", r + 1), c1,
            fmt::format("request {} owns page_indices entries up to {} but there are {}", r, c1 / c.page_size,
                        c.page_indices.numel()));
    for (int64_t s = c0 / c.page_size; s < c0 / c.page_size + aligned / c.page_size; ++s) {
      const int64_t page = c.page_indices.get_int(s);
      require(page >= 0 && page < P, fmt::format("case.page_indices[{}]", s), page,
              fmt::format("live page of request {} must be in [0, {})", r, P));
    }
  }
  // Every new token's cache slot belongs to it alone (no other live position of any request maps there), so the
  // order of the cache writes cannot matter; cached prefix pages may be shared between requests.
  std::map<int64_t, int64_t> live;  // slot -> live positions mapped to it
  for (int64_t r = 0; r < R; ++r)
    for (int64_t p = 0; p < c.seq_lens.get_int(r); ++p) ++live[kv_sharing_slot(c, r, p)];
  for (int64_t r = 0; r < R; ++r)
    for (int64_t p = c.seq_lens.get_int(r) - c.q_len(r); p < c.seq_lens.get_int(r); ++p) {
      const int64_t slot = kv_sharing_slot(c, r, p);
      require(live[slot] == 1, fmt::format("case.page_indices[{}]", c.cu_kv_lens.get_int(r) / c.page_size + p / c.page_size),
              slot / c.page_size,
              fmt::format("the slot {} of request {}'s new token at position {} is also another live position's", slot,
                          r, p));
    }
  require(c.max_query_len == max_q, "case.max_query_len", c.max_query_len,
          fmt::format("must equal the longest request's scheduled tokens, {}", max_q));

  // Logits indices (§6.2, §6.3).
  require(c.logits_indices_padded.rank() == 1, "case.logits_indices_padded", c.logits_indices_padded.describe(),
          "must have rank 1");
  const int64_t N = c.logits_indices_padded.numel(), n = c.num_logits_indices;
  check_tensor(c.logits_indices_padded, "logits_indices_padded", DType::i32, {N});
  require(n >= 1 && n <= N, "case.num_logits_indices", n,
          fmt::format("must be in [1, len(logits_indices_padded) = {}] (fast_prefill_forward asserts n > 0)", N));
  const int64_t scheduled = c.scheduled_tokens();
  int64_t r = 0;
  std::vector<int64_t> count(static_cast<size_t>(R), 0);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t li = c.logits_indices_padded.get_int(k);
    const std::string field = fmt::format("case.logits_indices_padded[{}]", k);
    require(li >= 0 && li < scheduled, field, li, fmt::format("must be a scheduled token row in [0, {})", scheduled));
    if (k > 0) {
      const int64_t prev = c.logits_indices_padded.get_int(k - 1);
      require(li > prev, field, li,
              fmt::format("logits indices must be sorted strictly ascending (previous {}; bucketize/bincount "
                          "assume grouping, spec §6.3)", prev));
    }
    while (c.query_start_loc.get_int(r + 1) <= li) ++r;
    ++count[static_cast<size_t>(r)];
  }
  // Each request's indices must be the last count[r] rows of its scheduled tokens: the attention backend
  // reads the reduced block as the last num_decode_tokens[r] positions of the sequence (§6.3).
  int64_t k = 0;
  for (r = 0; r < R; ++r) {
    const int64_t end = c.query_start_loc.get_int(r + 1);
    for (int64_t j = 0; j < count[static_cast<size_t>(r)]; ++j, ++k) {
      const int64_t li = c.logits_indices_padded.get_int(k), want = end - count[static_cast<size_t>(r)] + j;
      require(li == want, fmt::format("case.logits_indices_padded[{}]", k), li,
              fmt::format("request {}'s logits indices must form a contiguous suffix of its tokens [{}, {}) "
                          "(expected {}; spec §6.3)",
                          r, c.query_start_loc.get_int(r), end, want));
    }
    if (c.pure_decode()) {
      require(count[static_cast<size_t>(r)] == c.q_len(r), "case.num_logits_indices", n,
              fmt::format("a pure-decode batch (max_query_len == 1) keeps its metadata unchanged, so every "
                          "scheduled token needs a logits index; request {} has {} of {}",
                          r, count[static_cast<size_t>(r)], c.q_len(r)));
    }
  }
}

std::string kv_sharing_error(const KvSharingCase& c, int64_t layer) {
  const int64_t first = c.first_shared();
  // Python's set(prev_layers): here the layer's own type is absent, so it holds at most the other type.
  bool has[2] = {false, false};
  for (int64_t j = 0; j < first; ++j) has[c.layer_types.get_int(j)] = true;
  std::string available = "set()";
  for (int t = 0; t < 2; ++t)
    if (has[t]) available = fmt::format("{{'{}'}}", enum_name(static_cast<LayerType>(t)));
  return fmt::format("KV sharing layer {} has type '{}' but no matching type found in layers 0..{}. "
                     "Available types: {}",
                     layer, enum_name(c.layer_type(layer)), first - 1, available);
}

Tensor kv_sharing_layer(const Tensor& t, int64_t l) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  Tensor out(t.dtype(), shape);
  copy_bytes(out.raw(), t.raw() + static_cast<size_t>(l) * out.nbytes(), out.nbytes());
  return out;
}

RpaCase kv_sharing_attention_case(const KvSharingCase& c, int64_t layer, Tensor q, Tensor k, Tensor v,
                                  Tensor kv_cache, Tensor cu_q_lens) {
  RpaCase a;
  a.dtype = c.dtype;
  a.mode = MaskMode::causal;
  a.num_seqs = c.num_reqs;
  a.num_q_heads = c.num_q_heads;
  a.num_kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  a.page_size = c.page_size;
  a.sm_scale = c.sm_scale;
  a.sliding_window = kv_sharing_window(c, layer);
  a.block_q = c.block_q;
  a.block_kv_pages = c.block_kv_pages;
  a.data_seed = c.data_seed;
  a.q = std::move(q);
  a.k = std::move(k);
  a.v = std::move(v);
  a.kv_cache = std::move(kv_cache);
  a.kv_lens = c.seq_lens;
  a.cu_q_lens = std::move(cu_q_lens);
  a.cu_kv_lens = c.cu_kv_lens;
  a.page_indices = c.page_indices;
  return a;
}

int64_t kv_sharing_slot(const KvSharingCase& c, int64_t r, int64_t pos) {
  const int64_t slot = c.cu_kv_lens.get_int(r) / c.page_size + pos / c.page_size;
  return c.page_indices.get_int(slot) * c.page_size + pos % c.page_size;
}

}  // namespace lockstep
