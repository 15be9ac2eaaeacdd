// Stateful fuzzing of the KV memory with rapidcheck's state machine (rapidcheck/state.h): commands add a
// request, extend it by a prefill chunk, decode, finish, evict SWA, over random page sizes, windows and
// pool sizes. After every command: the leak invariant holds, every page table built from the state
// validates clean, and the device kernel's tables equal the reference's with a clean read walk.
// With a fault the same machine must fail within 200 sequences (rapidcheck then shrinks the sequence).
#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "device/core/faults.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "reference/kvcache/kv_trace.h"
#include "reference/kvcache/pool.h"

using namespace lockstep;
using namespace lockstep::reference::kvcache;

namespace {

struct Model {
  int64_t slots = 0;
  int32_t next_id = 0;
  std::vector<int32_t> live;  ///< request ids, increasing
};

struct Sut {
  KvMemory m;
  int fault = 0;  ///< kv_trace fault id (table faults to the kernel, decode leak to the pool)
  Sut(const KvConfig& c, int f)
      : m(c, PoolOptions{f != device::kKvTraceFaultDecodePartialAllocLeak}), fault(f) {}
};

/// The checks made after every command.
void check_state(const Sut& s) {
  s.m.check_invariant();
  const PageTableInput in = batch_input(s.m);
  const PageTables ref = build_page_tables(in);
  const ReadWindow w = read_window(s.m);
  const auto bad = validate_page_tables(ref, in.cache_seqlens, in.q_lens, w);
  RC_ASSERT(bad.empty());
  const int table_fault = s.fault == device::kKvTraceFaultDecodePartialAllocLeak ? 0 : s.fault;
  const auto dev = device::build_page_tables(in, w, device::Options{Backend::cpu, table_fault});
  RC_ASSERT(dev.tables.page_table == ref.page_table);
  RC_ASSERT(dev.tables.swa_page_table == ref.swa_page_table);
  RC_ASSERT(dev.reads.empty());
}

using Cmd = rc::state::Command<Model, Sut>;

int32_t pick(const Model& m, int32_t target) { return m.live[static_cast<size_t>(target) % m.live.size()]; }

struct AddRequest : Cmd {
  void apply(Model& m) const override {
    if (static_cast<int64_t>(m.live.size()) < m.slots) m.live.push_back(m.next_id++);
  }
  void run(const Model& m, Sut& s) const override {
    const auto id = s.m.add_request();
    RC_ASSERT(id.has_value() == (static_cast<int64_t>(m.live.size()) < m.slots));
    if (id) RC_ASSERT(*id == m.next_id);
    check_state(s);
  }
  void show(std::ostream& os) const override { os << "add"; }
};

struct Extend : Cmd {
  int32_t target = *rc::gen::inRange(0, 8);
  int64_t tokens = *rc::gen::weightedOneOf<int64_t>({{3, rc::gen::inRange<int64_t>(1, 9)}, {1, rc::gen::inRange<int64_t>(9, 40)}});
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.live.empty()); }
  void run(const Model& m, Sut& s) const override {
    const int32_t id = pick(m, target);
    const int64_t before = s.m.request(id).kv_len;
    const int64_t full_before = s.m.allocator().full_available_size();
    const bool ok = s.m.extend(id, tokens);
    RC_ASSERT(s.m.request(id).kv_len == before + (ok ? tokens : 0));
    if (!ok) RC_ASSERT(s.m.allocator().full_available_size() == full_before);  // failure consumes nothing
    check_state(s);
  }
  void show(std::ostream& os) const override { os << "extend(" << target << ", " << tokens << ")"; }
};

struct Decode : Cmd {
  int32_t target = *rc::gen::inRange(0, 8);
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.live.empty()); }
  void run(const Model& m, Sut& s) const override {
    const int32_t id = pick(m, target);
    const int64_t before = s.m.request(id).kv_len;
    const bool ok = s.m.decode(id);
    RC_ASSERT(s.m.request(id).kv_len == before + (ok ? 1 : 0));
    check_state(s);
  }
  void show(std::ostream& os) const override { os << "decode(" << target << ")"; }
};

struct Finish : Cmd {
  int32_t target = *rc::gen::inRange(0, 8);
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.live.empty()); }
  void apply(Model& m) const override { std::erase(m.live, pick(m, target)); }
  void run(const Model& m, Sut& s) const override {
    s.m.finish(pick(m, target));
    check_state(s);
  }
  void show(std::ostream& os) const override { os << "finish(" << target << ")"; }
};

struct EvictSwa : Cmd {
  int32_t target = *rc::gen::inRange(0, 8);
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.live.empty()); }
  void run(const Model& m, Sut& s) const override {
    const int32_t id = pick(m, target);
    const int64_t before = s.m.request(id).swa_evicted;
    const int64_t swa_before = s.m.allocator().swa_available_size();
    s.m.evict_swa(id);
    const int64_t freed = s.m.request(id).swa_evicted - before;
    RC_ASSERT(freed >= 0);
    RC_ASSERT(s.m.allocator().swa_available_size() == swa_before + freed);
    check_state(s);
  }
  void show(std::ostream& os) const override { os << "evict_swa(" << target << ")"; }
};

// -1 (unallocated) entries past kv_len: both page tables floor-divide them (-1 // page = -1).
struct UnsetTail : Cmd {
  int32_t target = *rc::gen::inRange(0, 8);
  int64_t count = *rc::gen::inRange<int64_t>(1, 33);
  void checkPreconditions(const Model& m) const override { RC_PRE(!m.live.empty()); }
  void run(const Model& m, Sut& s) const override {
    const int32_t id = pick(m, target);
    auto terms = [&] {
      std::string t;
      for (const auto& p : s.m.counters()) t += p.describe();
      return t;
    };
    const std::string before = terms();
    s.m.unset_tail(id, count);
    RC_ASSERT(terms() == before);  // the pools do not see it
    check_state(s);
  }
  void show(std::ostream& os) const override { os << "unset_tail(" << target << ", " << count << ")"; }
};

KvConfig gen_config() {
  KvConfig c;
  c.page_size = *rc::gen::element<int64_t>(1, 2, 4, 8, 16);
  const int64_t full_pages = *rc::gen::inRange<int64_t>(2, 40);
  c.full_size = full_pages * c.page_size;
  c.swa_size = *rc::gen::inRange<int64_t>(1, full_pages + 1) * c.page_size;
  c.window = *rc::gen::weightedOneOf<int64_t>({{1, rc::gen::inRange<int64_t>(1, 4)}, {2, rc::gen::inRange<int64_t>(4, 40)}});
  c.req_slots = *rc::gen::inRange<int64_t>(1, 6);
  c.max_context = *rc::gen::inRange<int64_t>(8, 100);
  return c;
}

void run_machine(int fault) {
  const KvConfig c = gen_config();
  Sut sut(c, fault);
  Model model;
  model.slots = c.req_slots;
  rc::state::check(model, sut, rc::state::gen::execOneOfWithArgs<AddRequest, Extend, Decode, Finish, EvictSwa, UnsetTail>());
}

}  // namespace

RC_GTEST_PROP(KvStateMachine, InvariantTablesAndDeviceAgreeAfterEveryCommand, ()) { run_machine(0); }

class KvStateMachineFault : public ::testing::TestWithParam<std::string> {};

TEST_P(KvStateMachineFault, FailsWithin200Sequences) {
  const int fault = device::fault_id("kv_trace", GetParam());
  int sequences = 0, first_failure = -1;
  // rc::check runs until a failure, then shrinks (re-running the property); count sequences until then.
  const bool passed = rc::check(GetParam(), [&] {
    if (first_failure < 0) ++sequences;
    try {
      run_machine(fault);
    } catch (...) {
      if (first_failure < 0) first_failure = sequences;
      throw;
    }
  });
  EXPECT_FALSE(passed) << GetParam() << " survived the state machine";
  EXPECT_GT(first_failure, 0);
  EXPECT_LE(first_failure, 200) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(KvTraceFaults, KvStateMachineFault, ::testing::ValuesIn([] {
                           std::vector<std::string> names;
                           for (const auto& f : device::all_faults())
                             if (std::string(f.op) == "kv_trace") names.push_back(f.name);
                           return names;
                         }()));
