/// Registry entry of `page_table`: a (serving-side) page-table dump checked by the reference validator
/// and by the device kernel's read walk (device/kvcache/page_table_kernel.h). Fails when a kernel would
/// read a bad entry (each one a failure line) or when the device walk reads a different set; every bad
/// entry, read or not, is listed as a note with whether it is inside the read window.
#include <functional>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "device/core/faults.h"
#include "device/kvcache/page_table.h"
#include "fuzz/kvcache/page_table.h"
#include "oracle/h5io.h"
#include "oracle/kvcache/report_util.h"
#include "oracle/op.h"
#include "reference/kvcache/page_table.h"

namespace lockstep::oracle {
namespace {

namespace rk = reference::kvcache;
constexpr const char* kName = "page_table";

std::vector<int32_t> ints(const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int32_t>(t.get_int(i));
  return v;
}

struct Inputs {
  PageTables tables;
  std::vector<int32_t> cache_seqlens, q_lens;
  ReadWindow window;
};

Inputs inputs(const PageTableDumpCase& c) {
  validate(c);
  Inputs in;
  in.tables.batch = c.rows();
  in.tables.cols = c.cols();
  in.tables.page_table = ints(c.page_table);
  in.tables.swa_page_table = ints(c.swa_page_table);
  in.cache_seqlens = ints(c.cache_seqlens);
  in.q_lens = c.q_lens.rank() > 0 ? ints(c.q_lens) : std::vector<int32_t>(static_cast<size_t>(c.rows()), 1);
  in.window = ReadWindow{c.page_size, c.window, c.full_pages, c.swa_pages};
  return in;
}

Tensor entries_tensor(const std::vector<rk::TableEntry>& entries) {
  std::vector<int32_t> flat;
  for (const rk::TableEntry& e : entries)
    flat.insert(flat.end(), {static_cast<int32_t>(e.table), e.row, e.col, e.value, static_cast<int32_t>(e.problem)});
  return Tensor::from<int32_t>({static_cast<int64_t>(entries.size()), 5}, flat);
}

PageTableDumpOutputs reference_outputs(const Inputs& in) {
  return {entries_tensor(rk::validate_page_tables(in.tables, in.cache_seqlens, in.q_lens, in.window))};
}

/// The device walk's records as table entries (slot -> table/row/col; SWA slots follow the full table).
PageTableDumpOutputs device_outputs(const Inputs& in, Backend backend, int fault) {
  const auto r = device::walk_page_tables(in.tables, in.cache_seqlens, in.q_lens, in.window, device::Options{backend, fault});
  const int64_t cells = in.tables.batch * in.tables.cols;
  std::vector<rk::TableEntry> entries;
  for (const OobRead& o : r.reads) {
    rk::TableEntry e;
    e.table = o.slot >= cells ? rk::TableKind::swa : rk::TableKind::full;
    const int64_t cell = o.slot >= cells ? o.slot - cells : o.slot;
    e.row = static_cast<int32_t>(cell / in.tables.cols);
    e.col = static_cast<int32_t>(cell % in.tables.cols);
    e.value = o.page;
    e.problem = o.page == 0 ? rk::EntryProblem::unallocated : rk::EntryProblem::out_of_range;
    e.read = true;
    entries.push_back(e);
  }
  return {entries_tensor(entries)};
}

class PageTableOp final : public TypedOp<PageTableDumpCase> {
 public:
  std::string name() const override { return kName; }
  std::string summary() const override {
    return "page-table dump (page_table, swa_page_table, cache_seqlens): entries a kernel reads that are out of "
           "range or unallocated/evicted; reference validator vs device read walk";
  }
  rc::Gen<PageTableDumpCase> typed_generator() const override { return fuzz::gen_page_table_dump_case(); }

  std::vector<Region<PageTableDumpCase>> typed_regions() const override {
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

  Record run_one_typed(const PageTableDumpCase& c, const std::string& which, const RunOptions& options) const override {
    if (which == "reference") return to_record(reference_outputs(inputs(c)));
    if (which == "device") return to_record(device_outputs(inputs(c), options.backend, device::fault_id(kName, options.fault)));
    throw Error("--backend", which, "must be reference or device");
  }

  LockstepResult run_typed(const PageTableDumpCase& c, const RunOptions& options) const override {
    LockstepResult res;
    Report& rep = res.report = start_report(kName, c, options);
    const int fault = device::fault_id(kName, options.fault);
    device::require_backend(options.backend);
    Inputs in;
    PageTableDumpOutputs ref, dev;
    try {
      in = inputs(c);
      ref = reference_outputs(in);
      dev = device_outputs(in, options.backend, fault);
    } catch (const Error& e) {
      rep.error = std::string("invalid case: ") + e.what();
      rep.fail(rep.error);
      return res;
    }
    res.reference_outputs = to_record(ref);
    res.device_outputs = to_record(dev);
    for (const rk::TableEntry& e : rk::table_entries(in.tables.page_table, in.tables.swa_page_table, in.tables.cols,
                                                     in.cache_seqlens, in.q_lens, in.window)) {
      if (e.read) rep.fail("bad entry read: " + rk::describe(e));
      rep.notes.push_back(rk::describe(e));
    }
    compare_exact(rep, {{"read_entries", {&ref.read_entries, &dev.read_entries}}});
    if (!rep.outputs.back().passed) rep.fail("device read walk differs from the validator");
    rep.stats.emplace_back("bad_entries", static_cast<double>(rep.notes.size()));
    rep.stats.emplace_back("bad_entries_read", static_cast<double>(ref.read_entries.numel() / 5));
    return res;
  }
};

/// The serving-side trap's file (fixtures/SCHEMA.md "Page-table dumps", fixtures/lockstep_h5.py
/// write_page_table_dump): kind page_table_dump, a /case of this op; `run` and `replay` load it like a case.
const h5::RegisterFileKind kPageTableDumpKind({kPageTableDumpFileKind, kName});

}  // namespace

std::unique_ptr<Op> make_page_table_op() { return std::make_unique<PageTableOp>(); }

}  // namespace lockstep::oracle
