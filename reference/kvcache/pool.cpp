#include "reference/kvcache/pool.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::reference::kvcache {
namespace {
int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t ceil_align(int64_t a, int64_t b) { return cdiv(a, b) * b; }
}  // namespace

PagedAllocator::PagedAllocator(int64_t size, int64_t page_size) : page_size_(page_size) {
  require(page_size >= 1, "page_size", page_size, "must be >= 1");
  require(size >= 0, "size", size, "must be >= 0");
  num_pages_ = size / page_size;
  for (int64_t p = 1; p <= num_pages_; ++p) free_.push_back(p);
}

int64_t PagedAllocator::new_pages(int64_t prefix_len, int64_t seq_len) const {
  return cdiv(seq_len, page_size_) - cdiv(prefix_len, page_size_);
}

std::optional<std::vector<int64_t>> PagedAllocator::alloc_extend(const std::vector<int64_t>& prefix_lens,
                                                                 const std::vector<int64_t>& seq_lens,
                                                                 const std::vector<int64_t>& last_locs) {
  const int64_t ps = page_size_;
  int64_t need = 0;
  for (size_t i = 0; i < seq_lens.size(); ++i) need += new_pages(prefix_lens[i], seq_lens[i]);
  if (need > free_pages()) return std::nullopt;
  std::vector<int64_t> out;
  size_t next_page = 0;
  for (size_t i = 0; i < seq_lens.size(); ++i) {
    const int64_t pre = prefix_lens[i], seq = seq_lens[i];
    const int64_t part1 = std::min(seq, cdiv(pre, ps) * ps) - pre;
    for (int64_t t = 0; t < part1; ++t) out.push_back(last_locs[i] + 1 + t);
    const int64_t first_new = cdiv(pre, ps) * ps;
    for (int64_t pos = std::max(first_new, pre); pos < seq; ++pos) {
      if ((pos - first_new) % ps == 0) ++next_page;  // a new page starts (part2 full pages, part3 last)
      out.push_back(free_[next_page - 1] * ps + pos % ps);
    }
  }
  free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(next_page));
  return out;
}

std::optional<std::vector<int64_t>> PagedAllocator::alloc_decode(const std::vector<int64_t>& seq_lens,
                                                                 const std::vector<int64_t>& last_locs) {
  std::vector<int64_t> prefix(seq_lens.size());
  for (size_t i = 0; i < seq_lens.size(); ++i) prefix[i] = seq_lens[i] - 1;
  return alloc_extend(prefix, seq_lens, last_locs);
}

void PagedAllocator::free(const std::vector<int64_t>& indices) {
  if (page_size_ == 1) {
    for (int64_t i : indices)
      if (i > 0) free_.push_back(i);
    return;
  }
  std::set<int64_t> pages;
  for (int64_t i : indices)
    if (i > 0) pages.insert(i / page_size_);
  free_.insert(free_.begin(), pages.begin(), pages.end());
}

SwaAllocator::SwaAllocator(int64_t full_size, int64_t swa_size, int64_t page_size, PoolOptions options)
    : full_(full_size, page_size), swa_(swa_size, page_size), options_(options) {
  mapping_.assign(static_cast<size_t>(full_size + page_size + 1), 0);
  mapping_.back() = -1;
}

int64_t SwaAllocator::available_size() const { return std::min(full_available_size(), swa_available_size()); }

int64_t SwaAllocator::map_index(int64_t full_index) const {
  const int64_t n = static_cast<int64_t>(mapping_.size());
  require(full_index >= -1 && full_index < n - 1, "full_index", full_index,
          fmt::format("outside the full->SWA mapping [-1, {})", n - 1));
  return full_index < 0 ? n - 1 : full_index;
}

int64_t SwaAllocator::translate(int64_t full_index) const { return mapping_[map_index(full_index)]; }

std::optional<std::vector<int64_t>> SwaAllocator::alloc_extend(const std::vector<int64_t>& prefix_lens,
                                                               const std::vector<int64_t>& seq_lens,
                                                               const std::vector<int64_t>& last_locs) {
  int64_t need = 0;
  for (size_t i = 0; i < seq_lens.size(); ++i) need += full_.new_pages(prefix_lens[i], seq_lens[i]);
  if (need > full_.free_pages() || need > swa_.free_pages()) return std::nullopt;
  std::vector<int64_t> swa_last(last_locs.size());
  for (size_t i = 0; i < last_locs.size(); ++i) swa_last[i] = translate(last_locs[i]);
  auto f = full_.alloc_extend(prefix_lens, seq_lens, last_locs);
  auto s = swa_.alloc_extend(prefix_lens, seq_lens, swa_last);
  for (size_t i = 0; i < f->size(); ++i) mapping_[map_index((*f)[i])] = (*s)[i];
  return f;
}

std::optional<std::vector<int64_t>> SwaAllocator::alloc_decode(const std::vector<int64_t>& seq_lens,
                                                               const std::vector<int64_t>& last_locs) {
  std::vector<int64_t> prefix(seq_lens.size());
  for (size_t i = 0; i < seq_lens.size(); ++i) prefix[i] = seq_lens[i] - 1;
  if (options_.decode_checks_both_pools) return alloc_extend(prefix, seq_lens, last_locs);
  // Upstream S10 order: full first, then SWA; a SWA failure keeps the consumed full pages.
  std::vector<int64_t> swa_last(last_locs.size());
  for (size_t i = 0; i < last_locs.size(); ++i) swa_last[i] = translate(last_locs[i]);
  auto f = full_.alloc_decode(seq_lens, last_locs);
  if (!f) return std::nullopt;
  auto s = swa_.alloc_decode(seq_lens, swa_last);
  if (!s) return std::nullopt;
  for (size_t i = 0; i < f->size(); ++i) mapping_[map_index((*f)[i])] = (*s)[i];
  return f;
}

void SwaAllocator::free(const std::vector<int64_t>& full_indices) {
  if (full_indices.empty()) return;
  full_.free(full_indices);
  free_swa(full_indices);
}

void SwaAllocator::free_swa(const std::vector<int64_t>& full_indices) {
  std::vector<int64_t> live;
  for (int64_t i : full_indices) {
    const int64_t k = map_index(i);
    if (mapping_[k] > 0) live.push_back(mapping_[k]);
    if (k != static_cast<int64_t>(mapping_.size()) - 1) mapping_[k] = 0;
  }
  swa_.free(live);
}

void SwaAllocator::free_full_only(const std::vector<int64_t>& full_indices) { full_.free(full_indices); }

ReqToTokenPool::ReqToTokenPool(int64_t slots, int64_t max_context) : slots_(slots), max_context_(max_context) {
  require(slots >= 1, "req_slots", slots, "must be >= 1");
  require(max_context >= 1, "max_context", max_context, "must be >= 1");
  table_.assign(static_cast<size_t>(slots * max_context), 0);
  for (int64_t s = slots - 1; s >= 0; --s) free_.push_back(static_cast<int32_t>(s));
}

std::optional<int32_t> ReqToTokenPool::alloc() {
  if (free_.empty()) return std::nullopt;
  const int32_t s = free_.back();
  free_.pop_back();
  return s;
}

void ReqToTokenPool::free(int32_t slot) { free_.push_back(slot); }

std::string PoolCounters::describe() const {
  return fmt::format("[{}] total={}, available={}, evictable={}, protected={}, session_held={}, uncached={}", pool,
                     total, available, evictable, protected_, session_held, uncached);
}

void check_pool_invariant(const std::vector<PoolCounters>& pools) {
  std::string messages;
  for (const PoolCounters& p : pools)
    if (!p.holds()) messages += (messages.empty() ? "" : "\n") + p.describe();
  if (!messages.empty()) throw Error("pool", "", "pool memory leak detected! " + messages);
}

KvMemory::KvMemory(const KvConfig& config, PoolOptions options)
    : config_(config),
      alloc_(config.full_size, config.swa_size, config.page_size, options),
      rtt_(config.req_slots, config.max_context) {
  require(config.window >= 1, "window", config.window, "must be >= 1 key");
}

std::optional<int32_t> KvMemory::add_request() {
  auto slot = rtt_.alloc();
  if (!slot) return std::nullopt;
  ReqState r;
  r.slot = *slot;
  reqs_.push_back(r);
  return static_cast<int32_t>(reqs_.size() - 1);
}

bool KvMemory::live(int32_t id) const {
  return id >= 0 && id < static_cast<int32_t>(reqs_.size()) && reqs_[id].slot >= 0;
}

std::vector<int32_t> KvMemory::live_ids() const {
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < static_cast<int32_t>(reqs_.size()); ++i)
    if (reqs_[i].slot >= 0) ids.push_back(i);
  return ids;
}

bool KvMemory::extend(int32_t id, int64_t tokens) {
  require(live(id), "request", id, "is not live");
  ReqState& r = reqs_[id];
  if (tokens < 1 || r.kv_len + tokens > config_.max_context) return false;
  const int64_t last = r.kv_len == 0 ? -1 : rtt_.at(r.slot, r.kv_len - 1);
  auto idx = tokens == 1 && r.kv_len > 0 ? alloc_.alloc_decode({r.kv_len + 1}, {last})
                                         : alloc_.alloc_extend({r.kv_len}, {r.kv_len + tokens}, {last});
  if (!idx) return false;
  for (int64_t t = 0; t < tokens; ++t) rtt_.set(r.slot, r.kv_len + t, static_cast<int32_t>((*idx)[t]));
  r.kv_len += tokens;
  r.last_q_len = tokens;
  return true;
}

bool KvMemory::decode(int32_t id) {
  require(live(id), "request", id, "is not live");
  if (reqs_[id].kv_len == 0) return false;  // decode needs a prefilled request
  return extend(id, 1);
}

void KvMemory::finish(int32_t id) {
  require(live(id), "request", id, "is not live");
  ReqState& r = reqs_[id];
  std::vector<int64_t> idx;
  for (int64_t t = 0; t < r.kv_len; ++t) idx.push_back(rtt_.at(r.slot, t));
  alloc_.free(idx);
  rtt_.free(r.slot);
  r.slot = -1;
}

void KvMemory::evict_swa(int32_t id) {
  require(live(id), "request", id, "is not live");
  const ReqState& r = reqs_[id];
  evict_swa_before(id, r.kv_len - r.last_q_len);  // KV before the last forward's queries
}

int64_t KvMemory::evict_swa_before(int32_t id, int64_t pre_len) {
  require(live(id), "request", id, "is not live");
  ReqState& r = reqs_[id];
  const int64_t ps = config_.page_size;
  int64_t next = std::min(std::max(r.swa_evicted, pre_len - config_.window), r.kv_len);
  next = next / ps * ps;
  if (next <= r.swa_evicted) return 0;
  std::vector<int64_t> idx;
  for (int64_t t = r.swa_evicted; t < next; ++t) idx.push_back(rtt_.at(r.slot, t));
  alloc_.free_swa(idx);
  const int64_t freed = next - r.swa_evicted;
  r.swa_evicted = next;
  return freed;
}

void KvMemory::shrink(int32_t id, int64_t new_len, bool free_swa) {
  require(live(id), "request", id, "is not live");
  ReqState& r = reqs_[id];
  require(new_len >= 0 && new_len <= r.kv_len, "new_len", new_len, fmt::format("must be in [0, kv_len = {}]", r.kv_len));
  const int64_t keep = ceil_align(new_len, config_.page_size);
  std::vector<int64_t> idx;
  for (int64_t t = keep; t < r.kv_len; ++t) idx.push_back(rtt_.at(r.slot, t));
  if (free_swa) alloc_.free(idx);
  else alloc_.free_full_only(idx);
  r.kv_len = new_len;
}

void KvMemory::unset_tail(int32_t id, int64_t count) {
  require(live(id), "request", id, "is not live");
  const ReqState& r = reqs_[id];
  const int64_t end = std::min(config_.max_context, r.kv_len + std::max<int64_t>(count, 0));
  for (int64_t t = r.kv_len; t < end; ++t) rtt_.set(r.slot, t, -1);
}

std::vector<PoolCounters> KvMemory::counters() const {
  PoolCounters full{"full", alloc_.full().size(), alloc_.full_available_size()};
  PoolCounters swa{"swa", alloc_.swa().size(), alloc_.swa_available_size()};
  for (const ReqState& r : reqs_) {
    if (r.slot < 0) continue;
    const int64_t held = ceil_align(r.kv_len, config_.page_size);
    full.uncached += held;
    swa.uncached += held - r.swa_evicted;
  }
  return {full, swa};
}

}  // namespace lockstep::reference::kvcache
