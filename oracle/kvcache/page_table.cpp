/// Oracle hooks of `page_table` (oracle/kvcache/page_table.h).
#include <functional>
#include <limits>
#include <utility>

#include "core/kvcache/page_table_dump.h"
#include "oracle/h5io.h"
#include "oracle/kvcache/page_table.h"
#include "reference/kvcache/page_table.h"

namespace lockstep::oracle {

namespace rk = reference::kvcache;

namespace {
/// The page-table dump file kind (written by a serving process's trap) loads as a page_table case.
const h5::RegisterFileKind kPageTableDumpKind({kPageTableDumpFileKind, "page_table"});
}  // namespace

std::vector<Region<PageTableDumpCase>> page_table_regions() {
  using C = const PageTableDumpCase&;
  auto any_entry = [](std::function<bool(int64_t value, int64_t pages)> p) {
    return [p](C c) {
      for (const auto& [t, pages] : {std::pair{&c.page_table, c.full_pages}, std::pair{&c.swa_page_table, c.swa_pages}})
        for (int64_t e = 0; e < t->numel(); ++e)
          if (p(t->get_int(e), pages)) return true;
      return false;
    };
  };
  return Regions<PageTableDumpCase>()
      .values("page_size", {"1", "2", "4", "8", "16"}, [](C c) { return std::to_string(c.page_size); })
      .values("pool_sizes", {"known", "unknown"}, [](C c) { return c.full_pages > 0 ? "known" : "unknown"; })
      .when("edge=empty_batch", [](C c) { return c.rows() == 0; })
      .when("stale=-1", any_entry([](int64_t v, int64_t) { return v == -1; }))
      .when("stale=past_pool", any_entry([](int64_t v, int64_t P) {
        return P > 0 && v > P && v < std::numeric_limits<int32_t>::max();
      }))
      .when("stale=INT32_MAX", any_entry([](int64_t v, int64_t) { return v == std::numeric_limits<int32_t>::max(); }))
      .when("stale=INT32_MIN", any_entry([](int64_t v, int64_t) { return v == std::numeric_limits<int32_t>::min(); }))
      .when_run("stale=present_not_read", [](C, const Report& r) {
        return report_stat(r, "bad_entries") > 0 && report_stat(r, "bad_entries_read") == 0;
      })
      .when_run("stale=none", [](C, const Report& r) { return report_stat(r, "bad_entries") == 0; })
      .build();
}

void page_table_check(const PageTableDumpCase& c, const PageTableDumpOutputs& ref, const PageTableDumpOutputs&,
                      Report& rep) {
  const PageTableDumpInput in = page_table_dump_input(c);
  for (const rk::TableEntry& e : rk::table_entries(in.tables.page_table, in.tables.swa_page_table, in.tables.cols,
                                                   in.cache_seqlens, in.q_lens, in.window)) {
    if (e.read) rep.fail("bad entry read: " + rk::describe(e));
    rep.notes.push_back(rk::describe(e));
  }
  rep.stats.emplace_back("bad_entries", static_cast<double>(rep.notes.size()));
  rep.stats.emplace_back("bad_entries_read", static_cast<double>(ref.read_entries.numel() / 5));
}

}  // namespace lockstep::oracle
