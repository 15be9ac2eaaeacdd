#include "fuzz/kvcache/kvcache.h"

#include <algorithm>
#include <tuple>
#include <vector>

namespace lockstep::fuzz {

rc::Gen<KvTraceCase> gen_kv_trace_case() {
  return rc::gen::exec([] {
    KvTraceCase c;
    c.page_size = *rc::gen::element<int64_t>(1, 2, 4, 8, 16);
    const int64_t full_pages = *rc::gen::inRange<int64_t>(2, 49);
    const int64_t swa_pages = *rc::gen::inRange<int64_t>(1, full_pages + 1);
    c.full_size = full_pages * c.page_size;
    c.swa_size = swa_pages * c.page_size;
    c.window = *rc::gen::weightedOneOf<int64_t>(
        {{2, rc::gen::inRange<int64_t>(1, 4)}, {3, rc::gen::inRange<int64_t>(4, 34)}, {1, rc::gen::just<int64_t>(64)}});
    c.req_slots = *rc::gen::inRange<int64_t>(1, 7);
    c.max_context = *rc::gen::inRange<int64_t>(8, 129);
    const int32_t chunk_cap = static_cast<int32_t>(2 * c.page_size + 3);
    using Cmd = std::tuple<int32_t, int32_t, int32_t>;
    const auto gen_cmd = rc::gen::weightedOneOf<Cmd>({
        {2, rc::gen::tuple(rc::gen::just<int32_t>(0), rc::gen::just<int32_t>(0), rc::gen::just<int32_t>(0))},
        {4, rc::gen::tuple(rc::gen::just<int32_t>(1), rc::gen::inRange<int32_t>(0, 8),
                           rc::gen::weightedOneOf<int32_t>({{3, rc::gen::inRange<int32_t>(1, chunk_cap)},
                                                            {1, rc::gen::inRange<int32_t>(1, 49)}}))},
        {6, rc::gen::tuple(rc::gen::just<int32_t>(2), rc::gen::inRange<int32_t>(0, 8), rc::gen::just<int32_t>(1))},
        {1, rc::gen::tuple(rc::gen::just<int32_t>(3), rc::gen::inRange<int32_t>(0, 8), rc::gen::just<int32_t>(0))},
        {2, rc::gen::tuple(rc::gen::just<int32_t>(4), rc::gen::inRange<int32_t>(0, 8), rc::gen::just<int32_t>(0))},
    });
    auto cmds = *rc::gen::scale(0.8, rc::gen::container<std::vector<Cmd>>(gen_cmd));
    // Unset-tail commands (-1 = unallocated entries past kv_len, which page-table construction floor-divides:
    // -1 // page = -1), drawn last as (position, target, amount) and inserted into the sequence, so the
    // other commands of a case are the same draws with or without them and shrink away independently.
    const auto unsets = *rc::gen::scale(
        0.15, rc::gen::container<std::vector<Cmd>>(rc::gen::tuple(
                  rc::gen::inRange<int32_t>(0, 1000), rc::gen::inRange<int32_t>(0, 8), rc::gen::inRange<int32_t>(1, 33))));
    for (const auto& [pos, target, amount] : unsets) {
      const auto at = cmds.begin() + pos % static_cast<int32_t>(cmds.size() + 1);
      cmds.insert(at, Cmd{static_cast<int32_t>(KvCommand::unset_tail), target, amount});
    }
    std::vector<int32_t> flat;
    for (const auto& [k, t, a] : cmds) flat.insert(flat.end(), {k, t, a});
    c.commands = Tensor::from<int32_t>({static_cast<int64_t>(cmds.size()), 3}, flat);
    return c;
  });
}

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
