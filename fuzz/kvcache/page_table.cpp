#include "fuzz/kvcache/page_table.h"

#include <limits>

#include "core/data.h"
#include "fuzz/kvcache/kv_trace.h"
#include "reference/kvcache/kv_trace.h"

namespace lockstep::fuzz {
namespace rk = reference::kvcache;

namespace {
int32_t stale(SplitMix& rng, int64_t num_pages) {
  switch (rng.below(6)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return static_cast<int32_t>(1 + rng.below(std::max<int64_t>(1, num_pages)));
    case 3: return static_cast<int32_t>(num_pages + 1);
    case 4: return std::numeric_limits<int32_t>::max();
    default: return std::numeric_limits<int32_t>::min();
  }
}
}  // namespace

rc::Gen<PageTableDumpCase> gen_page_table_dump_case() {
  return rc::gen::exec([] {
    const KvTraceCase trace = *gen_kv_trace_case();
    const int64_t extra_cols = *rc::gen::weightedOneOf<int64_t>({{3, rc::gen::just<int64_t>(0)}, {1, rc::gen::inRange<int64_t>(1, 4)}});
    const bool known_sizes = *rc::gen::weightedOneOf<bool>({{3, rc::gen::just(true)}, {1, rc::gen::just(false)}});
    const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
    PageTableInput in;
    ReadWindow w;
    rk::replay_trace(trace, rk::PoolOptions{}, [&](int64_t, const rk::KvMemory& m) {
      in = rk::batch_input(m);
      w = rk::read_window(m);
    });
    PageTableDumpCase c;
    c.page_size = trace.page_size;
    c.window = trace.window;
    c.full_pages = known_sizes ? w.full_pages : 0;
    c.swa_pages = known_sizes ? w.swa_pages : 0;
    if (in.req_pool_indices.empty()) {  // no request with KV: an empty batch
      c.page_table = Tensor(DType::i32, {0, 0});
      c.cache_seqlens = Tensor(DType::i32, {0});
      return c;
    }
    const PageTables t = rk::build_page_tables(in);
    const int64_t B = t.batch, cols = t.cols + extra_cols;
    std::vector<int32_t> full(static_cast<size_t>(B * cols)), swa(full.size());
    SplitMix rng{seed};
    for (int64_t b = 0; b < B; ++b) {
      const int64_t L = in.cache_seqlens[b], q = in.q_lens[b];
      const auto [f0, f1] = rk::read_columns(rk::TableKind::full, L, q, w);
      const auto [s0, s1] = rk::read_columns(rk::TableKind::swa, L, q, w);
      for (int64_t j = 0; j < cols; ++j) {
        const bool in_table = j < t.cols;
        const int32_t fv = in_table ? t.page_table[b * t.cols + j] : 0;
        const int32_t sv = in_table ? t.swa_page_table[b * t.cols + j] : 0;
        full[b * cols + j] = j >= f0 && j < f1 ? fv : rng.below(2) ? stale(rng, w.full_pages) : fv;
        swa[b * cols + j] = j >= s0 && j < s1 ? sv : rng.below(2) ? stale(rng, w.swa_pages) : sv;
      }
    }
    c.page_table = Tensor::from<int32_t>({B, cols}, full);
    c.swa_page_table = Tensor::from<int32_t>({B, cols}, swa);
    c.cache_seqlens = Tensor::from<int32_t>({B}, in.cache_seqlens);
    c.q_lens = Tensor::from<int32_t>({B}, in.q_lens);
    return c;
  });
}

}  // namespace lockstep::fuzz
