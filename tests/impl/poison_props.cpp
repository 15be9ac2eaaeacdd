// Properties of the black-box OOB poisoning (oracle/impl_poison.h; issue 12 item 4), on lockstep's own device
// kernels as the "implementation": poisoning never changes a correct kernel's result (every output field
// bit-identical to the run on the case as given, one call, nothing reported — on the reference too), and a
// read of one stale entry's page or of one unreferenced page is attributed to exactly that entry / page.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <cstring>

#include "device/attention/ragged_paged_attention.h"
#include "device/kvcache/kv_sharing.h"
#include "fuzz/attention/ragged_paged_attention.h"
#include "fuzz/kvcache/kv_sharing.h"
#include "oracle/impl_poison.h"
#include "oracle/report.h"
#include "reference/attention/ragged_paged_attention.h"
#include "reference/kvcache/kv_sharing.h"

using namespace lockstep;
using oracle::PoisonPlan;

namespace {

/// "" when every field of a and b holds the same bytes, else the first field that differs.
template <class Outputs>
std::string first_different_field(const Outputs& a, const Outputs& b) {
  std::vector<const void*> bf;
  for_each_field(b, [&](const char*, const auto& f) { bf.push_back(&f); });
  size_t k = 0;
  std::string diff;
  for_each_field(a, [&](const char* name, const auto& f) {
    using F = std::decay_t<decltype(f)>;
    const F& g = *static_cast<const F*>(bf[k++]);
    bool same;
    if constexpr (std::is_same_v<F, Tensor>) same = f == g;
    else if constexpr (std::is_same_v<F, double>) same = std::memcmp(&f, &g, sizeof f) == 0;
    else same = f == g;
    if (!same && diff.empty()) diff = name;
  });
  return diff;
}

template <class Case, class Outputs, class Fn>
void check_unchanged(const Case& c, Fn side, const char* which) {
  const Outputs plain = side(c);
  const auto run = oracle::run_poisoned(c, plain, side);
  RC_ASSERT(run.failure.empty());
  RC_ASSERT(run.reads.empty());
  RC_ASSERT(run.calls == 1);
  const std::string diff = first_different_field(plain, run.outputs);
  if (!diff.empty()) RC_FAIL(std::string(which) + ": output " + diff + " changed by poisoning");
}

/// The page of the case's page_indices[slot] (in range in every poisoned case), key 0, folded into out[0] with a
/// zero weight: NaN when that page is poisoned, no change otherwise.
RpaOutputs read_slot(const RpaCase& x, int64_t slot, int64_t page_or_minus1) {
  RpaOutputs o = device::ragged_paged_attention(x);
  const int64_t page = page_or_minus1 >= 0 ? page_or_minus1 : x.page_indices.get_int(slot);
  const double key = x.kv_cache.get(page * x.page_size * 2 * x.num_kv_heads * x.head_dim);
  o.out.set(0, o.out.get(0) + 0.0 * key);
  return o;
}

}  // namespace

RC_GTEST_PROP(ImplPoison, RaggedPagedAttentionResultUnchanged, ()) {
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  const PoisonPlan plan = oracle::poison_plan(oracle::paged_kv(c), c.page_indices);
  RC_TAG(plan.units.empty() ? "nothing to poison" : "poisoned", enum_name(c.mode), dtype_name(c.dtype));
  RC_ASSERT(!plan.units.empty());  // the generator always leaves an unreferenced page
  check_unchanged<RpaCase, RpaOutputs>(c, [](const RpaCase& x) { return device::ragged_paged_attention(x); }, "device");
  check_unchanged<RpaCase, RpaOutputs>(c, [](const RpaCase& x) { return reference::ragged_paged_attention(x); },
                                       "reference");
}

RC_GTEST_PROP(ImplPoison, KvSharingResultUnchanged, ()) {
  const KvSharingCase c = *fuzz::gen_kv_sharing_case();
  const PoisonPlan plan = oracle::poison_plan(oracle::paged_kv(c), c.page_indices);
  RC_ASSERT(!plan.units.empty());
  RC_TAG(dtype_name(c.dtype), c.pure_decode() ? "pure_decode" : "mixed");
  check_unchanged<KvSharingCase, KvSharingOutputs>(c, [](const KvSharingCase& x) { return device::kv_sharing(x); },
                                                   "device");
  check_unchanged<KvSharingCase, KvSharingOutputs>(
      c, [](const KvSharingCase& x) { return reference::kv_sharing(x); }, "reference");
}

RC_GTEST_PROP(ImplPoison, StaleEntryReadIsAttributedToThatEntry, ()) {
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  RC_PRE(c.num_tokens() > 0);
  const PoisonPlan plan = oracle::poison_plan(oracle::paged_kv(c), c.page_indices);
  std::vector<oracle::PoisonUnit> stale;
  for (const auto& u : plan.units)
    if (u.slot >= 0) stale.push_back(u);
  RC_PRE(!stale.empty());
  const oracle::PoisonUnit u = *rc::gen::elementOf(stale);
  const RpaOutputs ref = reference::ragged_paged_attention(c);
  const auto run = oracle::run_poisoned(c, ref, [&](const RpaCase& x) { return read_slot(x, u.slot, -1); });
  RC_ASSERT(run.reads.size() == 1u);
  RC_ASSERT(run.reads[0] == oracle::poison_oob_row(plan, u));
  RC_ASSERT(run.reads[0].slot == u.slot && run.reads[0].page == u.page && run.reads[0].seq == u.seq);
  RC_ASSERT(!run.failure.empty());
  RC_ASSERT(run.calls <= 3 + 2 * (1 + 64 - __builtin_clzll(plan.units.size())));  // bounded: 1 + log2(units)
}

RC_GTEST_PROP(ImplPoison, PoisonTurnedFiniteIsAttributedThroughTheComparison, ()) {
  // A consumer that sanitises what it loads (NaN -> 1e4, as nan_to_num does) and then branches on it: no NaN
  // reaches the output, but the poisoned run fails where the clean one passes.
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  RC_PRE(c.num_tokens() > 0);
  const PoisonPlan plan = oracle::poison_plan(oracle::paged_kv(c), c.page_indices);
  std::vector<oracle::PoisonUnit> stale;
  for (const auto& u : plan.units)
    if (u.slot >= 0) stale.push_back(u);
  RC_PRE(!stale.empty());
  const oracle::PoisonUnit u = *rc::gen::elementOf(stale);
  const RpaOutputs ref = reference::ragged_paged_attention(c);
  auto sanitising = [&](const RpaCase& x) {
    RpaOutputs o = device::ragged_paged_attention(x);
    const int64_t page = x.page_indices.get_int(u.slot);
    double key = x.kv_cache.get(page * x.page_size * 2 * x.num_kv_heads * x.head_dim);
    if (std::isnan(key)) key = 1e4;
    if (key > 1e3) o.out.set(0, o.out.get(0) + 1.0);
    return o;
  };
  auto fails = [&](const RpaOutputs& o) {  // a coarse stand-in for the op's tolerance
    for (int64_t i = 0; i < o.out.numel(); ++i)
      if (!(std::fabs(o.out.get(i) - ref.out.get(i)) < 0.5)) return true;
    return false;
  };
  const auto run = oracle::run_poisoned(c, ref, sanitising, fails);
  RC_ASSERT(run.reads.size() == 1u);
  RC_ASSERT(run.reads[0].slot == u.slot);
  RC_ASSERT(!run.failure.empty());
}

RC_GTEST_PROP(ImplPoison, UnreferencedPageReadIsAttributedToThatPage, ()) {
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  RC_PRE(c.num_tokens() > 0);
  const PoisonPlan plan = oracle::poison_plan(oracle::paged_kv(c), c.page_indices);
  std::vector<int64_t> pages;
  for (const auto& u : plan.units)
    if (u.slot < 0 && u.page != plan.sink) pages.push_back(u.page);
  RC_PRE(!pages.empty());
  const int64_t page = *rc::gen::elementOf(pages);
  const RpaOutputs ref = reference::ragged_paged_attention(c);
  const auto run = oracle::run_poisoned(c, ref, [&](const RpaCase& x) { return read_slot(x, -1, page); });
  RC_ASSERT(run.reads.size() == 1u);
  RC_ASSERT(run.reads[0].slot == -1 && run.reads[0].page == page);
  RC_ASSERT(run.failure.find("page " + std::to_string(page) + ", which no valid page-table entry") !=
            std::string::npos);
}

RC_GTEST_PROP(ImplPoison, StrayWriteToAnUnreferencedPageIsComparedNotTakenForARead, ()) {
  const RpaCase c = fuzz::materialize(*fuzz::gen_rpa_spec());
  const PoisonPlan plan = oracle::poison_plan(oracle::paged_kv(c), c.page_indices);
  std::vector<int64_t> pages;
  for (const auto& u : plan.units)
    if (u.slot < 0) pages.push_back(u.page);
  RC_PRE(!pages.empty());
  const int64_t page = *rc::gen::elementOf(pages);
  const int64_t at = page * plan.kv.page_elems + *rc::gen::inRange<int64_t>(0, plan.kv.page_elems);
  auto stray = [&](const RpaCase& x) {
    RpaOutputs o = device::ragged_paged_attention(x);
    o.kv_cache.set(at, 1.5);  // one element of an unreferenced page
    return o;
  };
  const RpaOutputs plain = stray(c);
  const auto run = oracle::run_poisoned(c, reference::ragged_paged_attention(c), stray);
  RC_ASSERT(run.failure.empty());
  RC_ASSERT(run.calls == 1);
  RC_ASSERT(run.outputs.kv_cache == plain.kv_cache);  // the write kept, every other poisoned element restored
}

TEST(ImplPoison, PlanOfAHandWrittenTable) {
  oracle::PagedKv kv;  // one sequence of 2 keys, page size 1: entries 0-1 valid, entry 2 stale (value 5)
  kv.page_size = 1;
  kv.page_elems = 4;
  kv.slots = 3;
  kv.first_slot = {0, 3};
  kv.lens = {2};
  kv.len_name = "kv_len";
  const Tensor table = Tensor::from<int32_t>({3}, {1, 0, 5});
  kv.pages = 2;  // both pages referenced: nothing to poison, nowhere to point the stale entry
  EXPECT_TRUE(oracle::poison_plan(kv, table).units.empty());
  kv.pages = 4;  // pages 2 and 3 unreferenced: 2 is the sink, the decoy is referenced page 0
  const PoisonPlan plan = oracle::poison_plan(kv, table);
  EXPECT_EQ(plan.sink, 2);
  EXPECT_EQ(plan.decoy, 0);
  ASSERT_EQ(plan.units.size(), 3u);
  EXPECT_EQ(plan.units[0].slot, 2);
  EXPECT_EQ(plan.units[0].page, 5);
  EXPECT_EQ(plan.units[0].seq, 0);
  EXPECT_EQ(plan.units[0].token, 2);
  EXPECT_EQ(plan.units[1].page, 2);
  EXPECT_EQ(plan.units[2].page, 3);
  Tensor pool(DType::f32, {4, 4}), t = table;
  const std::vector<int64_t> poisoned = oracle::apply_poison(plan, {1, 0, 1}, pool, t);
  EXPECT_EQ(poisoned, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.get_int(2), 2);  // the active stale entry points at the sink
  EXPECT_TRUE(std::isnan(pool.get(8)) && std::isnan(pool.get(15)) && pool.get(0) == 0 && pool.get(7) == 0);
  t = table;
  Tensor clean(DType::f32, {4, 4});
  EXPECT_TRUE(oracle::apply_poison(plan, {0, 0, 0}, clean, t).empty());
  EXPECT_EQ(t.get_int(2), 0);  // an inactive stale entry points at the (clean) decoy
  EXPECT_EQ(oracle::poison_failure(plan, {plan.units[0]}, false),
            "device read poisoned KV memory (out-of-bounds read): seq 0 page_indices[2] = 5, a stale entry (keys "
            "2..2, kv_len 2; pointed at poisoned page 2)");
  kv.first_slot = {0, 2};  // entry 2 now belongs to no sequence: trailing
  EXPECT_EQ(oracle::poison_plan(kv, table).units[0].seq, -1);
}

TEST(ImplPoison, OobLinesOfPoisonedReads) {
  EXPECT_EQ(oracle::oob_line({-1, -1, -1, 7, 9}), "page 7: poisoned, no valid page-table entry references it");
  EXPECT_EQ(oracle::oob_line({0, 8, 5, 2, 9}), "seq 0 token 8: page_indices[5] = 2, a stale entry (read through poisoning)");
  EXPECT_EQ(oracle::oob_line({0, 8, 5, 99, 9}), "seq 0 token 8: page_indices[5] = 99 outside [0, 9)");
  EXPECT_EQ(oracle::oob_line({-1, -1, 5, 99, 9}), "page_indices[5] = 99, a stale trailing entry (read through poisoning)");
}
