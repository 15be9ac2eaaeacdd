#include "fuzz/kvcache/kv_trace.h"

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

}  // namespace lockstep::fuzz
