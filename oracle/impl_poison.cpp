#include "oracle/impl_poison.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "oracle/impl.h"

namespace lockstep::oracle {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Elements per page of a pool tensor whose page axis is `axis`.
int64_t elems_after(const Tensor& t, size_t axis) {
  int64_t n = 1;
  for (size_t k = axis + 1; k < t.rank(); ++k) n *= t.dim(k);
  return n;
}

void poison_page(const PoisonPlan& plan, Tensor& pool, int64_t page) {
  const size_t esz = dtype_size(pool.dtype());
  for (int64_t o = 0; o < plan.kv.outer; ++o)
    detail::ImplCall::poison_fill(pool.dtype(), pool.raw() + ((o * plan.kv.pages + page) * plan.kv.page_elems) * esz,
                                  plan.kv.page_elems);
}

}  // namespace

bool impl_poison_enabled() {
  const char* v = std::getenv("LOCKSTEP_IMPL_POISON");
  return v == nullptr || (std::strcmp(v, "off") != 0 && std::strcmp(v, "0") != 0);
}

PagedKv paged_kv(const RpaCase& c) {
  PagedKv kv;
  kv.page_size = c.page_size;
  kv.pages = c.kv_cache.rank() == 4 ? c.kv_cache.dim(0) : 0;
  kv.outer = 1;
  kv.page_elems = c.kv_cache.rank() == 4 ? elems_after(c.kv_cache, 0) : 0;
  kv.slots = c.page_indices.numel();
  const int64_t S = c.kv_lens.numel();
  for (int64_t i = 0; i <= S; ++i) kv.first_slot.push_back(cdiv(c.cu_kv_lens.get_int(i), c.page_size));
  for (int64_t i = 0; i < S; ++i) kv.lens.push_back(i < c.num_seqs ? c.kv_len(i) : 0);  // padding: never read
  kv.len_name = "kv_len";
  return kv;
}

PagedKv paged_kv(const KvSharingCase& c) {
  PagedKv kv;
  kv.page_size = c.page_size;
  kv.pages = c.kv_cache.rank() == 5 ? c.kv_cache.dim(1) : 0;
  kv.outer = c.kv_cache.rank() == 5 ? c.kv_cache.dim(0) : 1;
  kv.page_elems = c.kv_cache.rank() == 5 ? elems_after(c.kv_cache, 1) : 0;
  kv.slots = c.page_indices.numel();
  for (int64_t r = 0; r <= c.num_reqs; ++r) kv.first_slot.push_back(cdiv(c.cu_kv_lens.get_int(r), c.page_size));
  for (int64_t r = 0; r < c.num_reqs; ++r) kv.lens.push_back(c.seq_lens.get_int(r));
  kv.len_name = "seq_len";
  return kv;
}

PoisonPlan poison_plan(const PagedKv& kv, const Tensor& page_indices) {
  PoisonPlan plan;
  plan.kv = kv;
  if (kv.pages <= 0 || kv.page_elems <= 0) return plan;
  // Owner and validity of every entry.
  std::vector<int32_t> owner(static_cast<size_t>(kv.slots), -1);
  std::vector<uint8_t> valid(static_cast<size_t>(kv.slots), 0);
  for (size_t i = 0; i < kv.lens.size(); ++i) {
    const int64_t s0 = kv.first_slot[i], s1 = std::min(kv.first_slot[i + 1], kv.slots);
    const int64_t live = cdiv(kv.lens[i], kv.page_size);
    for (int64_t s = std::max<int64_t>(s0, 0); s < s1; ++s) {
      owner[static_cast<size_t>(s)] = static_cast<int32_t>(i);
      valid[static_cast<size_t>(s)] = s - s0 < live;
    }
  }
  std::vector<uint8_t> referenced(static_cast<size_t>(kv.pages), 0);
  for (int64_t s = 0; s < kv.slots; ++s) {
    const int64_t p = page_indices.get_int(s);
    if (valid[static_cast<size_t>(s)] && p >= 0 && p < kv.pages) referenced[static_cast<size_t>(p)] = 1;
  }
  std::vector<int64_t> free_pages;
  for (int64_t p = 0; p < kv.pages; ++p)
    if (!referenced[static_cast<size_t>(p)]) free_pages.push_back(p);
  if (free_pages.empty()) return plan;  // every page is read legitimately: nothing to poison, nowhere to point
  plan.sink = free_pages.front();
  const auto first_ref = std::find(referenced.begin(), referenced.end(), uint8_t{1});
  if (first_ref != referenced.end()) plan.decoy = first_ref - referenced.begin();
  else plan.decoy = free_pages.size() > 1 ? free_pages[1] : plan.sink;  // no page is referenced at all
  for (int64_t s = 0; s < kv.slots; ++s) {
    if (valid[static_cast<size_t>(s)]) continue;
    PoisonUnit u;
    u.slot = s;
    u.page = page_indices.get_int(s);
    u.seq = owner[static_cast<size_t>(s)];
    u.token = u.seq >= 0 ? static_cast<int32_t>((s - kv.first_slot[static_cast<size_t>(u.seq)]) * kv.page_size) : -1;
    plan.units.push_back(u);
  }
  for (int64_t p : free_pages)
    if (p != plan.decoy) plan.units.push_back(PoisonUnit{-1, p, -1, -1});
  return plan;
}

std::vector<int64_t> apply_poison(const PoisonPlan& plan, const std::vector<uint8_t>& active, Tensor& pool,
                                  Tensor& page_indices) {
  std::vector<uint8_t> poisoned(static_cast<size_t>(plan.kv.pages), 0);
  for (size_t k = 0; k < plan.units.size(); ++k) {
    const PoisonUnit& u = plan.units[k];
    if (u.slot >= 0) {
      page_indices.set(u.slot, static_cast<double>(active[k] ? plan.sink : plan.decoy));
      if (active[k]) poisoned[static_cast<size_t>(plan.sink)] = 1;
    } else if (active[k]) {
      poisoned[static_cast<size_t>(u.page)] = 1;
    }
  }
  std::vector<int64_t> pages;
  for (int64_t p = 0; p < plan.kv.pages; ++p)
    if (poisoned[static_cast<size_t>(p)]) {
      poison_page(plan, pool, p);
      pages.push_back(p);
    }
  return pages;
}

namespace {
/// The poison's signalling NaN with its quiet bit set: what an implementation that copied the page through
/// a float conversion (numpy, lockstep_h5.py's bf16 rounding, F16C) hands back for an element it never
/// wrote. 0 for dtypes whose poison is not a NaN.
uint32_t quieted_poison_bits(DType dt, const std::byte* poison) {
  switch (dt) {
    case DType::f32: { uint32_t u; std::memcpy(&u, poison, 4); return u | 0x00400000u; }
    case DType::bf16: { uint16_t u; std::memcpy(&u, poison, 2); return u | 0x0040u; }
    case DType::f16: { uint16_t u; std::memcpy(&u, poison, 2); return u | 0x0200u; }
    default: return 0;
  }
}

/// Whether `out` still holds the poison of `poison`: the same bytes, or the same NaN quieted.
bool still_poison(DType dt, const std::byte* out, const std::byte* poison, size_t esz) {
  if (std::memcmp(out, poison, esz) == 0) return true;
  const uint32_t quiet = quieted_poison_bits(dt, poison);
  if (quiet == 0) return false;
  uint32_t u = 0;
  std::memcpy(&u, out, esz);  // little-endian: the low esz bytes
  return u == quiet;
}
}  // namespace

void unpoison_pool(const PoisonPlan& plan, const std::vector<int64_t>& pages, const Tensor& original,
                   const Tensor& poisoned_pool, Tensor& out) {
  // Element by element: a kernel that wrongly writes part of an unreferenced page leaves its finite values
  // (compared, and failing) and no poison behind that would read as a consumed page. An element the
  // implementation copied through a float conversion comes back as the quieted poison, still untouched.
  const size_t esz = dtype_size(out.dtype());
  for (int64_t p : pages)
    for (int64_t o = 0; o < plan.kv.outer; ++o) {
      const size_t at = static_cast<size_t>((o * plan.kv.pages + p) * plan.kv.page_elems) * esz;
      for (size_t e = at; e < at + static_cast<size_t>(plan.kv.page_elems) * esz; e += esz)
        if (still_poison(out.dtype(), out.raw() + e, poisoned_pool.raw() + e, esz))
          std::memcpy(out.raw() + e, original.raw() + e, esz);
    }
}

OobRead poison_oob_row(const PoisonPlan& plan, const PoisonUnit& u) {
  return OobRead{u.seq, u.token, static_cast<int32_t>(u.slot), static_cast<int32_t>(u.page),
                 static_cast<int32_t>(plan.kv.pages)};
}

namespace {
std::string unit_text(const PoisonPlan& plan, const PoisonUnit& u) {
  if (u.slot < 0) return fmt::format("page {}, which no valid page-table entry references", u.page);
  if (u.seq < 0)
    return fmt::format("page_indices[{}] = {}, a stale trailing entry past every sequence's pages (pointed at "
                       "poisoned page {})",
                       u.slot, u.page, plan.sink);
  const int64_t len = plan.kv.lens[static_cast<size_t>(u.seq)];
  return fmt::format("seq {} page_indices[{}] = {}, a stale entry (keys {}..{}, {} {}; pointed at poisoned page {})",
                     u.seq, u.slot, u.page, u.token, u.token + plan.kv.page_size - 1, plan.kv.len_name, len, plan.sink);
}
}  // namespace

std::string poison_failure(const PoisonPlan& plan, const std::vector<PoisonUnit>& culprits, bool more) {
  if (culprits.empty())
    return "device output consumed poisoned KV pages (stale entries / unreferenced pages), but no subset of them "
           "reproduces it (nondeterministic output?)";
  std::string s = fmt::format("device read poisoned KV memory (out-of-bounds read): {}", unit_text(plan, culprits[0]));
  if (culprits.size() > 1) s += fmt::format(" (+{} more, listed)", culprits.size() - 1);
  if (more) s += fmt::format("; further poisoned reads not named (at most {} are)", kMaxPoisonCulprits);
  return s;
}

}  // namespace lockstep::oracle
