#include "fuzz/kvcache/pool_sizing.h"

#include <algorithm>

namespace lockstep::fuzz {

rc::Gen<PoolSizingCase> gen_pool_sizing_case() {
  return rc::gen::exec([] {
    PoolSizingCase c;
    c.available_bytes = *rc::gen::weightedOneOf<int64_t>({{1, rc::gen::inRange<int64_t>(0, 1 << 24)},
                                                          {3, rc::gen::inRange<int64_t>(1 << 24, int64_t{1} << 40)}});
    c.num_full_layers = *rc::gen::weightedOneOf<int64_t>({{1, rc::gen::just<int64_t>(0)}, {4, rc::gen::inRange<int64_t>(1, 13)}});
    c.num_swa_layers = *rc::gen::inRange<int64_t>(1, 61);
    c.full_bytes_per_token = *rc::gen::element<int64_t>(512, 1024, 1536, 2048, 4096, 8192, 16384);
    c.swa_bytes_per_token = *rc::gen::element<int64_t>(512, 1024, 1536, 2048, 4096, 8192, 16384);
    c.page_size = *rc::gen::element<int64_t>(1, 16, 32, 64);
    c.num_experts = *rc::gen::element<int64_t>(0, 0, 8, 128);
    c.ratio = *rc::gen::weightedOneOf<double>({{3, rc::gen::just(0.0)}, {2, rc::gen::element(0.1, 0.15, 0.5, 0.8, 1.0)}});
    // Sliding window (drawn last): up to the SWA pool's boundary, never past it (spec 3.3 makes a pool
    // that cannot hold one request an invalid case, rejected by validate()).
    const int64_t swa = pool_sizes(c, default_swa_full_tokens_ratio(c.num_experts)).tokens.get_int(1);
    const int64_t room = swa - c.page_size - 1;  // largest valid window
    switch (*rc::gen::element(0, 0, 1, 2)) {
      case 1: c.sliding_window = std::min<int64_t>(*rc::gen::element<int64_t>(512, 1024, 4096), room); break;
      case 2: c.sliding_window = room - *rc::gen::inRange<int64_t>(0, 4); break;  // at the boundary
      default: break;
    }
    if (c.sliding_window < 1) c.sliding_window = 0;
    return c;
  });
}

}  // namespace lockstep::fuzz
