#include "reference/kvcache/kv_trace.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/oob_reads.h"
#include "reference/attention/ragged_paged_attention.h"
#include "reference/kvcache/paged_attention.h"

namespace lockstep::reference::kvcache {

KvConfig kv_config(const KvTraceCase& c) {
  return KvConfig{c.full_size, c.swa_size, c.page_size, c.window, c.req_slots, c.max_context};
}

void apply_command(const KvTraceCase& c, int64_t i, KvMemory& m) {
  const auto kind = static_cast<KvCommand>(c.commands.get_int(i * 3));
  const int64_t target = c.commands.get_int(i * 3 + 1), amount = c.commands.get_int(i * 3 + 2);
  if (kind == KvCommand::add) {
    m.add_request();
    return;
  }
  const std::vector<int32_t> ids = m.live_ids();
  if (ids.empty()) return;
  const int32_t id = ids[static_cast<size_t>(target % static_cast<int64_t>(ids.size()))];
  switch (kind) {
    case KvCommand::extend: m.extend(id, amount); break;
    case KvCommand::decode: m.decode(id); break;
    case KvCommand::finish: m.finish(id); break;
    case KvCommand::evict_swa: m.evict_swa(id); break;
    case KvCommand::unset_tail: m.unset_tail(id, amount); break;
    default: break;
  }
}

PageTableInput batch_input(const KvMemory& m) {
  PageTableInput in;
  in.req_to_token = m.req_to_token().table();
  in.max_context = m.req_to_token().max_context();
  in.page_size = m.config().page_size;
  in.mapping = m.allocator().mapping();
  for (int32_t id : m.live_ids()) {
    const ReqState& r = m.request(id);
    if (r.kv_len == 0) continue;
    in.req_pool_indices.push_back(r.slot);
    in.cache_seqlens.push_back(static_cast<int32_t>(r.kv_len));
    in.q_lens.push_back(static_cast<int32_t>(r.last_q_len));
    in.max_seq_len_k = std::max<int64_t>(in.max_seq_len_k, r.kv_len);
  }
  return in;
}

ReadWindow read_window(const KvMemory& m) {
  return ReadWindow{m.config().page_size, m.config().window, m.allocator().full().num_pages(),
                    m.allocator().swa().num_pages()};
}

std::vector<RpaCase> step_attention_cases(const PageTableInput& in, const PageTables& t, const ReadWindow& w,
                                          int64_t step) {
  if (t.batch == 0) return {};
  const uint64_t seed = static_cast<uint64_t>(step) * 2 + 1;
  return {paged_attention_case(t.page_table, t.cols, in.cache_seqlens, in.q_lens, in.page_size, 0, w.full_pages, seed),
          paged_attention_case(t.swa_page_table, t.cols, in.cache_seqlens, in.q_lens, in.page_size, w.window,
                               w.swa_pages, seed + 1)};
}

void append_counters(const std::vector<PoolCounters>& pools, std::vector<int64_t>& out) {
  for (const PoolCounters& p : pools)
    out.insert(out.end(), {p.total, p.available, p.evictable, p.protected_, p.session_held, p.uncached});
}

void replay_trace(const KvTraceCase& c, const PoolOptions& options,
                  const std::function<void(int64_t, const KvMemory&)>& step) {
  validate(c);
  KvMemory m(kv_config(c), options);
  for (int64_t i = 0; i < c.num_commands(); ++i) {
    apply_command(c, i, m);
    step(i, m);
  }
}

KvTraceOutputs kv_trace(const KvTraceCase& c) {
  KvTraceOutputs r;
  std::vector<std::string> problems;
  std::vector<int32_t> full, swa;
  std::vector<int64_t> counters;
  std::vector<float> attention;
  replay_trace(c, PoolOptions{}, [&](int64_t i, const KvMemory& m) {
    try {
      m.check_invariant();
    } catch (const Error& e) {
      problems.push_back(fmt::format("step {}: {}", i, e.what()));
    }
    append_counters(m.counters(), counters);
    const PageTableInput in = batch_input(m);
    const PageTables t = build_page_tables(in);
    for (const TableEntry& e : validate_page_tables(t, in.cache_seqlens, in.q_lens, read_window(m)))
      problems.push_back(fmt::format("step {}: {}", i, describe(e)));
    full.insert(full.end(), t.page_table.begin(), t.page_table.end());
    swa.insert(swa.end(), t.swa_page_table.begin(), t.swa_page_table.end());
    for (int32_t L : in.cache_seqlens) r.max_kv_len = std::max<int64_t>(r.max_kv_len, L);
    for (const RpaCase& a : step_attention_cases(in, t, read_window(m), i)) {
      const RpaOutputs out = reference::ragged_paged_attention(a);
      for (const OobRead& o : oob_list(out.oob_reads))
        problems.push_back(fmt::format("step {}: attention read page_indices[{}] = {}", i, o.slot, o.page));
      const auto v = out.out.span<float>();
      attention.insert(attention.end(), v.begin(), v.end());
    }
  });
  r.page_tables = Tensor::from<int32_t>({static_cast<int64_t>(full.size())}, full);
  r.swa_page_tables = Tensor::from<int32_t>({static_cast<int64_t>(swa.size())}, swa);
  r.counters = Tensor::from<int64_t>({c.num_commands(), 2, 6}, counters);
  r.attention = Tensor::from<float>({static_cast<int64_t>(attention.size())}, attention);
  for (const std::string& p : problems) r.invariant_failures += (r.invariant_failures.empty() ? "" : "\n") + p;
  r.oob_reads = oob_tensor({});
  r.attention_oob_reads = oob_tensor({});
  return r;
}

}  // namespace lockstep::reference::kvcache
