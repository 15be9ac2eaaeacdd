#pragma once
/// Out-of-bounds detection for black-box implementations (--impl; issue 12 item 4). lockstep's own kernels
/// read pages through a checked accessor and log every out-of-range read (Rule::oob_reads); someone else's
/// kernel has none. So before an implementation sees a case with paged KV, every KV page that no valid
/// page-table entry references is poisoned (the signalling-NaN patterns of the output poison,
/// detail::ImplCall::poison_fill) and every stale page-table entry (past a sequence's kv_len, of a padding
/// sequence, or trailing past every sequence) is pointed at a poisoned page. A correct kernel never reads
/// either, so its result is unchanged (tests/impl/poison_props.cpp proves it on lockstep's own device kernels);
/// the reference always sees the case as given. A poisoned run whose outputs fail (or turn NaN where the
/// reference's are not) is re-run without poison; when the poisoned outputs have a NaN the clean ones lack, or
/// fail where the clean ones pass, the implementation consumed poison: the poison is split into units (each stale entry, each unreferenced page) and a prefix bisection over them names the
/// entries/pages responsible (at most kMaxPoisonCulprits, 1 + log2(units) calls each), reported as
/// out-of-bounds reads — the report's device OOB rows and one failure line.
///
/// Everything here acts on the Case handed to the implementation and on the Outputs it returns, through a
/// callable, so it works for any transport (C plugin, worker). Ops declare their paged layout with a
/// paged_kv() overload (ragged_paged_attention, kv_sharing); other ops are called once, unchanged.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/attention/ragged_paged_attention.h"
#include "core/fields.h"
#include "core/kvcache/kv_sharing.h"
#include "core/oob.h"
#include "core/tensor.h"

namespace lockstep::oracle {

/// The most poisoned reads a failing case names (each found with 1 + log2(units) implementation calls).
inline constexpr int kMaxPoisonCulprits = 4;

/// Whether poisoning is on: always, unless the environment sets LOCKSTEP_IMPL_POISON=off (or 0) — a switch for
/// measuring its cost and for showing what it finds (BENCHMARKS.md, tests/impl/poison_test.sh), not for
/// campaigns: a dump recorded without it replays with it.
bool impl_poison_enabled();

/// The paged KV layout of a case: the pool tensor `kv_cache` (outer pools stacked before its page axis, e.g.
/// one per layer), the flat `page_indices`, and which of its entries are valid: sequence i owns entries
/// [first_slot[i], first_slot[i + 1]) and the first cdiv(lens[i], page_size) of them are valid.
struct PagedKv {
  int64_t page_size = 1;
  int64_t pages = 0;       ///< P: pages per pool
  int64_t outer = 1;       ///< pools before the page axis
  int64_t page_elems = 0;  ///< elements of one page
  int64_t slots = 0;       ///< entries of page_indices
  std::vector<int64_t> first_slot;  ///< per sequence, plus one past the last: cdiv(cu_kv_lens[i], page_size)
  std::vector<int64_t> lens;        ///< per sequence: keys (0 for padding sequences)
  std::string len_name;             ///< "kv_len" / "seq_len", as the op names it
};

PagedKv paged_kv(const RpaCase& c);
PagedKv paged_kv(const KvSharingCase& c);

/// Cases with a paged KV layout (a paged_kv overload and the two fields it describes).
template <class Case>
concept PagedCase = requires(const Case& c) {
  { paged_kv(c) } -> std::same_as<PagedKv>;
  c.kv_cache;
  c.page_indices;
};

/// One unit of poison: a stale page_indices entry (slot >= 0), or an unreferenced page (slot = -1).
struct PoisonUnit {
  int64_t slot = -1;
  int64_t page = 0;               ///< stale entry: its value in the case as given; page unit: the page
  int32_t seq = -1, token = -1;   ///< stale entry: the sequence owning it (-1: trailing) and its first key
};

struct PoisonPlan {
  PagedKv kv;
  std::vector<PoisonUnit> units;  ///< stale entries (slot order), then unreferenced pages (page order)
  int64_t sink = -1;   ///< the poisoned page active stale entries point at (an unreferenced page)
  int64_t decoy = -1;  ///< the clean page inactive stale entries point at (a referenced page when there is one)
};

/// The plan for a case; no units when the case has no unreferenced page (nothing can be poisoned: P pages
/// all referenced) or nothing stale and nothing unreferenced.
PoisonPlan poison_plan(const PagedKv& kv, const Tensor& page_indices);

/// Applies the units marked in `active` to copies of the case's pool and page table; returns the pages
/// poisoned (ascending).
std::vector<int64_t> apply_poison(const PoisonPlan& plan, const std::vector<uint8_t>& active, Tensor& pool,
                                  Tensor& page_indices);

/// An in-place output of the pool (`out`, same dtype and shape as `original`): every element of a poisoned
/// page it left exactly as poisoned (`poisoned_pool`) gets the original bytes back, so only what the
/// implementation wrote there is compared (a wrong write to an unreferenced page fails the pool's comparison;
/// it is not mistaken for a poisoned read).
void unpoison_pool(const PoisonPlan& plan, const std::vector<int64_t>& pages, const Tensor& original,
                   const Tensor& poisoned_pool, Tensor& out);

/// The report row of a poisoned read (core/oob.h): stale entry {seq, first key, slot, value, P}; page
/// {-1, -1, -1, page, P}.
OobRead poison_oob_row(const PoisonPlan& plan, const PoisonUnit& u);
/// The failure line naming the culprits (`more`: further poisoned reads were left unnamed); with no culprits,
/// the line says the output consumed poison that no subset of the units reproduced (a nondeterministic output).
std::string poison_failure(const PoisonPlan& plan, const std::vector<PoisonUnit>& culprits, bool more);

namespace detail {
/// Whether some floating tensor field of `a` holds a NaN where the same field of `b` does not.
template <class Outputs>
bool has_new_nan(const Outputs& a, const Outputs& b) {
  std::vector<const Tensor*> bt;
  for_each_field(b, [&](const char*, const auto& f) {
    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, Tensor>) bt.push_back(&f);
  });
  size_t k = 0;
  bool found = false;
  for_each_field(a, [&](const char*, const auto& f) {
    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, Tensor>) {
      const Tensor& o = *bt[k++];
      if (found || !is_floating(f.dtype()) || f.dtype() != o.dtype() || f.shape() != o.shape()) return;
      for (int64_t i = 0; i < f.numel() && !found; ++i) found = std::isnan(f.get(i)) && !std::isnan(o.get(i));
    }
  });
  return found;
}
}  // namespace detail

/// The poisoned runs of one case through one implementation: run_all() is the implementation's result; only
/// when the comparison of that result fails does attribute() re-run the case without poison (`clean`) and
/// decide whether the implementation consumed poison: the poisoned outputs have a NaN the clean ones lack, or
/// fail where the clean ones pass (a consumer that turned the NaN into a finite value, e.g. a clamped load).
/// Then a prefix bisection over the units names the culprits. `call`: Case -> Outputs (the implementation,
/// any transport). Cases without a paged layout, or with nothing to poison: run_all() is one plain call.
template <class Case, class Outputs, class Call>
class PoisonSession {
 public:
  PoisonSession(const Case& c, Call call, bool enabled) : c_(c), call_(std::move(call)) {
    if constexpr (PagedCase<Case>)
      if (enabled && impl_poison_enabled()) plan_ = poison_plan(paged_kv(c), c.page_indices);
  }
  bool poisoned() const { return !plan_.units.empty(); }
  int calls() const { return calls_; }

  Outputs run_all() { return run(std::vector<uint8_t>(plan_.units.size(), 1)); }

  struct Found {
    std::vector<OobRead> reads;
    std::string failure;  ///< "" when no poison was consumed
  };
  /// After the poisoned outputs `dev` (of run_all) failed the comparison `fails` (Outputs -> bool).
  template <class Fails>
  Found attribute(const Outputs& dev, Fails&& fails) {
    Found found;
    if (!poisoned()) return found;
    const size_t n = plan_.units.size();
    const Outputs clean = run(std::vector<uint8_t>(n, 0));
    const bool clean_fails = fails(clean);
    auto consumed = [&](const Outputs& o, bool o_fails) {
      return detail::has_new_nan(o, clean) || (!clean_fails && o_fails);
    };
    if (!consumed(dev, true)) return found;  // the failure is the implementation's own
    auto poisons = [&](size_t lo, size_t hi) {  // units [lo, hi] active
      std::vector<uint8_t> active(n, 0);
      for (size_t k = lo; k <= hi; ++k) active[k] = 1;
      const Outputs o = run(active);
      return consumed(o, !clean_fails && fails(o));
    };
    // Prefix bisection: the smallest m such that units [lo, m] poisoned reproduce the consumption.
    std::vector<PoisonUnit> culprits;
    size_t lo = 0;
    bool more = false;
    while (lo < n) {
      if (!poisons(lo, n - 1)) break;
      if (static_cast<int>(culprits.size()) == kMaxPoisonCulprits) {
        more = true;
        break;
      }
      size_t a = lo, b = n - 1;
      while (a < b) {
        const size_t mid = a + (b - a) / 2;
        if (poisons(lo, mid)) b = mid;
        else a = mid + 1;
      }
      culprits.push_back(plan_.units[b]);
      lo = b + 1;
    }
    for (const PoisonUnit& u : culprits) found.reads.push_back(poison_oob_row(plan_, u));
    found.failure = poison_failure(plan_, culprits, more);
    return found;
  }

 private:
  Outputs run(const std::vector<uint8_t>& active) {
    ++calls_;
    if constexpr (PagedCase<Case>) {
      if (poisoned()) {
        Case x = c_;
        const std::vector<int64_t> pages = apply_poison(plan_, active, x.kv_cache, x.page_indices);
        Outputs o = call_(static_cast<const Case&>(x));
        for_each_field(o, [&](const char* name, auto& f) {
          if constexpr (std::is_same_v<std::decay_t<decltype(f)>, Tensor>)
            if (std::string(name) == "kv_cache" && f.dtype() == c_.kv_cache.dtype() &&
                f.shape() == c_.kv_cache.shape())
              unpoison_pool(plan_, pages, c_.kv_cache, x.kv_cache, f);
        });
        return o;
      }
    }
    (void)active;
    return call_(c_);
  }

  const Case& c_;
  Call call_;
  PoisonPlan plan_;
  int calls_ = 0;
};

/// What run_poisoned found: the poisoned run's outputs, the out-of-bounds rows and the failure line ("" and
/// none when no poison was consumed), and the calls made.
template <class Outputs>
struct PoisonedRun {
  Outputs outputs;
  std::vector<OobRead> reads;
  std::string failure;
  int calls = 0;
};

/// One PoisonSession: the poisoned run, and attribution when it fails `fails` or has a NaN where `ref` has none.
template <class Case, class Outputs, class Call, class Fails>
PoisonedRun<Outputs> run_poisoned(const Case& c, const Outputs& ref, Call&& call, Fails&& fails) {
  PoisonSession<Case, Outputs, std::decay_t<Call>> session(c, std::forward<Call>(call), true);
  PoisonedRun<Outputs> res;
  res.outputs = session.run_all();
  if (session.poisoned() && (detail::has_new_nan(res.outputs, ref) || fails(res.outputs))) {
    auto found = session.attribute(res.outputs, fails);
    res.reads = std::move(found.reads);
    res.failure = std::move(found.failure);
  }
  res.calls = session.calls();
  return res;
}

/// run_poisoned whose comparison is "has a NaN where the reference has none" (tests).
template <class Case, class Outputs, class Call>
PoisonedRun<Outputs> run_poisoned(const Case& c, const Outputs& ref, Call&& call) {
  return run_poisoned(c, ref, std::forward<Call>(call), [&ref](const Outputs& o) { return detail::has_new_nan(o, ref); });
}

}  // namespace lockstep::oracle
