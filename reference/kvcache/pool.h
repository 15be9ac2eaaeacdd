#pragma once
/// Reference model of the KV memory of a hybrid sliding-window (SWA) serving engine (spec:
/// shared/spec/gemma4-kvcache-speculative.md §4.1–§4.3, §4.5). Plain host code; it IS the specification.
///
/// Public interface (kept narrow; the speculative-decoding scheduler uses it):
///   PagedAllocator   free list of pages; alloc_extend / alloc_decode / free / available_size
///   SwaAllocator     full + SWA PagedAllocator and the full->SWA index mapping; translate()
///   ReqToTokenPool   (slots, max_context) int32 table of full-pool token indices + free slots
///   KvMemory         request-level bookkeeping on top of them: add_request / extend / decode / finish /
///                    evict_swa, counters() and check_invariant()
///   check_pool_invariant(counters) throws "pool memory leak detected! [full] total=..., available=..."
///
/// Decisions (documented here, pinned by tests/kvcache/pool_test.cpp):
///   - One allocator class serves page_size 1 (upstream's TokenToKVPoolAllocator) and page_size > 1
///     (PagedTokenToKVPoolAllocator); with page size 1 the page arithmetic degenerates to token slots.
///     `free` appends released pages for page size 1 and prepends them (sorted, unique) otherwise.
///   - Token/page 0 is reserved (dummy target of padded tokens) and never handed out; a pool of
///     `size` tokens has `size / page_size` allocatable pages numbered 1..size/page_size.
///   - The mapping has size_full + page_size + 1 entries, the last one -1 (so index -1 maps to -1);
///     value 0 = no live SWA slot (never allocated or evicted).
///   - `alloc_extend` never consumes on failure. `alloc_decode` checks BOTH pools before consuming
///     (PoolOptions::decode_checks_both_pools = true); false reproduces upstream S10's edge where the
///     full pages are consumed and kept when the SWA allocation fails (a leak the invariant catches).
///   - SWA eviction (version A of §4.3, no radix cache so cache_protected_len = 0): pre_len = KV length
///     before the last forward's queries (seqlen - 1 after a decode, the prefix before the last chunk),
///     new = floor_page(max(evicted, pre_len - W)); slots [evicted, new) are freed from the SWA pool.
///     W = sliding window in keys (decision 8: a query at q sees q - W < p <= q), so neither the last
///     forward's queries nor any later one reads an evicted key.
///   - Leak invariant per pool: available + evictable + protected + session_held + uncached == total,
///     with no radix cache/sessions (evictable = protected = session_held = 0) and uncached summed over
///     live requests: full ceil_align(kv_len, page) and SWA ceil_align(kv_len, page) - swa_evicted.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace lockstep::reference::kvcache {

/// Free list of pages of one pool (page_size 1 = token allocator).
class PagedAllocator {
 public:
  PagedAllocator(int64_t size, int64_t page_size);
  int64_t size() const { return num_pages_ * page_size_; }
  int64_t page_size() const { return page_size_; }
  int64_t num_pages() const { return num_pages_; }
  int64_t free_pages() const { return static_cast<int64_t>(free_.size()); }
  int64_t available_size() const { return free_pages() * page_size_; }
  /// Pages request i needs to grow from prefix_lens[i] to seq_lens[i] tokens.
  int64_t new_pages(int64_t prefix_len, int64_t seq_len) const;
  /// Token indices for the new tokens of every request, concatenated in request order (spec §4.1:
  /// part1 fills the old partial page after last_loc, part2 full new pages, part3 the last new page).
  /// `last_locs[i]` = token index of request i's last existing token, -1 when prefix_lens[i] == 0.
  /// nullopt (nothing consumed) when the free pages do not suffice.
  std::optional<std::vector<int64_t>> alloc_extend(const std::vector<int64_t>& prefix_lens,
                                                   const std::vector<int64_t>& seq_lens,
                                                   const std::vector<int64_t>& last_locs);
  /// One token per request; seq_lens include the new token.
  std::optional<std::vector<int64_t>> alloc_decode(const std::vector<int64_t>& seq_lens,
                                                   const std::vector<int64_t>& last_locs);
  /// Releases the pages holding these token indices (values <= 0 are ignored: slot 0 is reserved).
  void free(const std::vector<int64_t>& indices);

 private:
  int64_t num_pages_;
  int64_t page_size_;
  std::deque<int64_t> free_;  ///< page ids, taken from the front
};

struct PoolOptions {
  bool decode_checks_both_pools = true;  ///< false: upstream S10 edge (full kept when SWA decode fails)
};

/// Hybrid allocator: full pool, SWA pool and the full->SWA token index mapping.
class SwaAllocator {
 public:
  SwaAllocator(int64_t full_size, int64_t swa_size, int64_t page_size, PoolOptions options = {});
  const PagedAllocator& full() const { return full_; }
  const PagedAllocator& swa() const { return swa_; }
  int64_t page_size() const { return full_.page_size(); }
  int64_t full_available_size() const { return full_.available_size(); }
  int64_t swa_available_size() const { return swa_.available_size(); }
  int64_t available_size() const;
  /// (full_size + page_size + 1) entries; last = -1.
  const std::vector<int64_t>& mapping() const { return mapping_; }
  std::optional<std::vector<int64_t>> alloc_extend(const std::vector<int64_t>& prefix_lens,
                                                   const std::vector<int64_t>& seq_lens,
                                                   const std::vector<int64_t>& last_locs);
  std::optional<std::vector<int64_t>> alloc_decode(const std::vector<int64_t>& seq_lens,
                                                   const std::vector<int64_t>& last_locs);
  /// Frees full slots and their live SWA slots.
  void free(const std::vector<int64_t>& full_indices);
  /// Frees only the SWA slots bound to these full slots and zeroes their mapping entries.
  void free_swa(const std::vector<int64_t>& full_indices);
  /// Frees only the full slots, leaving their SWA slots taken and their mapping entries stale (a bug
  /// model: the speculative scheduler's `v2_overallocation_not_released_on_swa_evict` fault).
  void free_full_only(const std::vector<int64_t>& full_indices);
  /// mapping[idx] (idx = -1 gives -1).
  int64_t translate(int64_t full_index) const;

 private:
  int64_t map_index(int64_t full_index) const;
  PagedAllocator full_, swa_;
  std::vector<int64_t> mapping_;
  PoolOptions options_;
};

/// (slots, max_context) int32 table: row r holds the full-pool token index of each position of the
/// request in slot r. Rows are reused without clearing (stale trailing entries are realistic).
class ReqToTokenPool {
 public:
  ReqToTokenPool(int64_t slots, int64_t max_context);
  std::optional<int32_t> alloc();
  void free(int32_t slot);
  int64_t slots() const { return slots_; }
  int64_t max_context() const { return max_context_; }
  int64_t free_slots() const { return static_cast<int64_t>(free_.size()); }
  int32_t at(int64_t slot, int64_t pos) const { return table_[slot * max_context_ + pos]; }
  void set(int64_t slot, int64_t pos, int32_t v) { table_[slot * max_context_ + pos] = v; }
  const std::vector<int32_t>& table() const { return table_; }

 private:
  int64_t slots_, max_context_;
  std::vector<int32_t> table_;
  std::vector<int32_t> free_;
};

/// One pool's terms of the leak invariant.
struct PoolCounters {
  std::string pool;  ///< "full" or "swa"
  int64_t total = 0, available = 0, evictable = 0, protected_ = 0, session_held = 0, uncached = 0;
  bool holds() const { return available + evictable + protected_ + session_held + uncached == total; }
  /// "[full] total=..., available=..., evictable=..., protected=..., session_held=..., uncached=..."
  std::string describe() const;
};

/// Throws Error("pool", ..., "pool memory leak detected! [full] total=... ...") listing every pool
/// whose terms do not add up.
void check_pool_invariant(const std::vector<PoolCounters>& pools);

struct KvConfig {
  int64_t full_size = 0;    ///< full pool tokens per layer
  int64_t swa_size = 0;     ///< SWA pool tokens per layer
  int64_t page_size = 1;
  int64_t window = 0;       ///< sliding window in keys (W >= 1)
  int64_t req_slots = 4;    ///< rows of req_to_token
  int64_t max_context = 64; ///< columns of req_to_token
};

struct ReqState {
  int32_t slot = -1;             ///< req_to_token row
  int64_t kv_len = 0;            ///< tokens with KV (allocated, page-rounded in the pool)
  int64_t swa_evicted = 0;       ///< SWA slots of positions [0, swa_evicted) are freed
  int64_t last_q_len = 1;        ///< query length of the last extend/decode (1 before any)
};

/// Request-level bookkeeping: what a scheduler does with the pools. Operations return false (changing
/// nothing) when the pools or the request slots are exhausted or the request would exceed max_context.
/// An id that is not live (never added, or finished) is a caller bug: Error naming `request`.
class KvMemory {
 public:
  explicit KvMemory(const KvConfig& config, PoolOptions options = {});
  const KvConfig& config() const { return config_; }
  /// Takes a req_to_token row; returns the request id (dense, increasing) or nullopt.
  std::optional<int32_t> add_request();
  bool extend(int32_t id, int64_t tokens);  ///< prefill chunk of `tokens` new tokens
  bool decode(int32_t id);                  ///< one new token
  void finish(int32_t id);                  ///< frees every slot of the request and its row
  void evict_swa(int32_t id);               ///< frees SWA slots outside the window
  /// SWA eviction with an explicit pre_len (the speculative scheduler's decode: kv_committed_len - 1):
  /// new = floor_page(max(swa_evicted, pre_len - W)); frees [swa_evicted, new). Returns the slots freed.
  int64_t evict_swa_before(int32_t id, int64_t pre_len);
  /// Gives back the tail of the request's KV: kv_len becomes `new_len` (<= kv_len) and the pages wholly
  /// past ceil_align(new_len, page) are freed (both pools; `free_swa` false frees only the full pages,
  /// the bug model above). Speculative decoding's rejected verify slots and over-allocation.
  void shrink(int32_t id, int64_t new_len, bool free_swa = true);
  /// Writes -1 (unallocated) into the request's req_to_token row at positions [kv_len, kv_len + count)
  /// (clipped to max_context): what an engine that pads unused row entries with -1 leaves there. The
  /// entries are translated by page-table construction (index -1 maps to the mapping's last entry, -1)
  /// but never read (they lie past kv_len); a later extend overwrites them.
  void unset_tail(int32_t id, int64_t count);
  bool live(int32_t id) const;
  std::vector<int32_t> live_ids() const;
  const ReqState& request(int32_t id) const { return reqs_.at(id); }
  const SwaAllocator& allocator() const { return alloc_; }
  const ReqToTokenPool& req_to_token() const { return rtt_; }
  std::vector<PoolCounters> counters() const;
  void check_invariant() const { check_pool_invariant(counters()); }

 private:
  KvConfig config_;
  SwaAllocator alloc_;
  ReqToTokenPool rtt_;
  std::vector<ReqState> reqs_;  ///< by id; slot -1 = finished
};

}  // namespace lockstep::reference::kvcache
