#pragma once
/// The narrow KV pool interface the speculative scheduler model needs (spec §4.5), so the full pool
/// model of reference/kvcache can be joined later: allocate / free token counts and report the
/// counters of the leak invariant
///
///   available + evictable + protected + session_held + uncached == total
///
/// where `uncached` is what live requests hold outside the tree cache (the busy check sums
/// `kv_allocated_len - cache_protected_len` over the requests; this model has no tree cache, so
/// cache_protected_len = 0 and evictable = protected = session_held = 0).
#include <cstdint>

namespace lockstep::reference::spec {

struct PoolCounters {
  int64_t total = 0;
  int64_t available = 0;
  int64_t evictable = 0;
  int64_t protected_size = 0;
  int64_t session_held = 0;
};

class KvPool {
 public:
  virtual ~KvPool() = default;
  /// Takes `n` tokens; false (and nothing taken) when fewer than `n` are available.
  virtual bool alloc(int64_t n) = 0;
  /// Returns `n` tokens. Never checks ownership: freeing too much shows up in the leak invariant.
  virtual void free(int64_t n) = 0;
  virtual PoolCounters counters() const = 0;
};

/// Page size 1 token pool: a counter of free tokens.
class TokenPool final : public KvPool {
 public:
  explicit TokenPool(int64_t total) : total_(total), available_(total) {}
  bool alloc(int64_t n) override {
    if (n < 0 || n > available_) return false;
    available_ -= n;
    return true;
  }
  void free(int64_t n) override { available_ += n; }
  PoolCounters counters() const override { return {total_, available_, 0, 0, 0}; }

 private:
  int64_t total_;
  int64_t available_;
};

}  // namespace lockstep::reference::spec
