#include "fuzz/metadata/nsa_metadata.h"

#include <cstring>

#include "core/data.h"
#include "fuzz/core/pick.h"

namespace lockstep::fuzz {
namespace {

Tensor rows_of(const Tensor& t, int64_t first, int64_t n) {
  const int64_t w = t.rank() == 2 ? t.dim(1) : 1;
  Shape shape = t.shape();
  shape[0] = n;
  Tensor out(t.dtype(), shape);
  copy_bytes(out.raw(), t.raw() + first * w * 4, static_cast<size_t>(n * w * 4));
  return out;
}

}  // namespace

rc::Gen<NsaCase> gen_nsa_case() {
  return rc::gen::exec([] {
    NsaCase c;
    c.mode = pick({NsaMode::decode, NsaMode::target_verify, NsaMode::draft_extend});
    c.topk = *rc::gen::weightedOneOf<int64_t>(
        {{3, rc::gen::inRange<int64_t>(1, 9)}, {1, rc::gen::inRange<int64_t>(1, 300)}, {1, rc::gen::just<int64_t>(2048)}});
    c.draft_tokens = c.mode == NsaMode::target_verify ? *rc::gen::inRange<int64_t>(1, 9) : 0;
    c.page_size = pick<int64_t>({1, 2, 4, 16});
    c.block_tokens = pick<int64_t>({128, 1, 2, 3, 7, 32, 256});
    const int64_t bs = *rc::gen::weightedOneOf<int64_t>(
        {{1, rc::gen::just<int64_t>(0)}, {6, rc::gen::inRange<int64_t>(1, 9)}, {2, rc::gen::inRange<int64_t>(1, 41)}});
    std::vector<int32_t> seq(bs), ext(bs);
    int64_t n = 0;
    for (int64_t r = 0; r < bs; ++r) {
      ext[r] = c.mode == NsaMode::draft_extend
                   ? *rc::gen::weightedOneOf<int32_t>({{1, rc::gen::just(0)}, {5, rc::gen::inRange(1, 6)}})
                   : 0;
      const int32_t need = c.mode == NsaMode::decode ? 1 : ext[r];  // kv_len >= qo_len (decision 6)
      seq[r] = need + *rc::gen::weightedOneOf<int32_t>(
                          {{1, rc::gen::just(0)}, {4, rc::gen::inRange(0, 40)}, {1, rc::gen::inRange(0, 5000)}});
      n += c.mode == NsaMode::decode ? 1 : c.mode == NsaMode::target_verify ? c.draft_tokens : ext[r];
    }
    c.seq_lens = Tensor::from<int32_t>({bs}, seq);
    if (c.mode == NsaMode::draft_extend) c.extend_lens = Tensor::from<int32_t>({bs}, ext);
    c.max_tokens = n + *rc::gen::weightedOneOf<int64_t>({{2, rc::gen::just<int64_t>(0)}, {1, rc::gen::inRange<int64_t>(1, 6)}});
    const int64_t W = *rc::gen::inRange<int64_t>(0, 10);
    c.page_table = Tensor(DType::i32, {bs, W});
    SplitMix rng{*rc::gen::arbitrary<uint64_t>()};
    for (int64_t e = 0; e < bs * W; ++e) c.page_table.span<int32_t>()[e] = static_cast<int32_t>(rng.below(1 << 20));
    return c;
  });
}

NsaCase single_request(const NsaCase& c, int64_t i) {
  NsaCase s = c;
  s.seq_lens = rows_of(c.seq_lens, i, 1);
  if (c.mode == NsaMode::draft_extend) s.extend_lens = rows_of(c.extend_lens, i, 1);
  s.page_table = rows_of(c.page_table, i, 1);
  s.max_tokens = c.qo_len(i);
  return s;
}

BatchingRule<NsaCase, NsaOutputs> nsa_batching_rule() {
  BatchingRule<NsaCase, NsaOutputs> rule;
  rule.slices = [](const NsaCase& c) { return c.bs(); };
  rule.slice_case = single_request;
  rule.slice_outputs = [](const NsaOutputs& o, const NsaCase& c, int64_t i) {
    int64_t t0 = 0;
    for (int64_t r = 0; r < i; ++r) t0 += c.qo_len(r);
    const int64_t qo = c.qo_len(i);
    NsaOutputs s;
    s.num_tokens = Tensor::from<int32_t>({1}, {static_cast<int32_t>(qo)});
    s.cache_seqlens = rows_of(o.cache_seqlens, i, 1);
    s.cu_seqlens_k = Tensor::from<int32_t>({2}, {0, o.cache_seqlens.span<int32_t>()[i]});
    s.seqlens_expanded = rows_of(o.seqlens_expanded, t0, qo);
    s.nsa_cache_seqlens = rows_of(o.nsa_cache_seqlens, t0, qo);
    s.page_table_1 = rows_of(o.page_table_1, t0, qo);
    s.real_page_table = rows_of(o.real_page_table, t0, qo);
    // Cumulative outputs: the request's stretch, re-based to start at 0.
    s.nsa_cu_seqlens_k = rows_of(o.nsa_cu_seqlens_k, t0, qo + 1);
    s.nsa_cu_seqlens_q = rows_of(o.nsa_cu_seqlens_q, t0, qo + 1);
    for (Tensor* t : {&s.nsa_cu_seqlens_k, &s.nsa_cu_seqlens_q}) {
      auto v = t->span<int32_t>();
      const int32_t base = v[0];
      for (auto& x : v) x -= base;
    }
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
