#pragma once
/// Deterministic toy target and draft models, so whole speculative runs are checkable.
///
/// * Target: the next token is a pure function of (seed, whole prefix): a splitmix64 fold of the
///   tokens, reduced modulo the vocabulary. Greedy decoding of the target is therefore a fixed
///   stream per prompt, and a speculative run's visible output can be compared with it exactly.
/// * Draft: proposes N-1 tokens after the root that agree with the target's greedy continuation for
///   exactly `k` positions (k chosen by the decode command's accept pattern), then one token that
///   differs from the target (so exactly k drafts are accepted), then arbitrary tokens.
#include <cstdint>
#include <span>
#include <vector>

#include "core/spec/spec_decode.h"

namespace lockstep::reference::spec {

uint64_t spec_mix(uint64_t x);

struct ToyTarget {
  uint64_t seed = 0;
  int64_t vocab = 2;
  /// Hash state of the empty prefix; push() folds one token in; token() reduces a state to an id.
  uint64_t start() const;
  static uint64_t push(uint64_t h, int64_t t) { return spec_mix(h ^ static_cast<uint64_t>(t)); }
  int64_t token(uint64_t h) const { return static_cast<int64_t>(h % static_cast<uint64_t>(vocab)); }
  /// argmax of the target after `prefix`.
  int64_t next(std::span<const int64_t> prefix) const;
  /// `n` greedy tokens after `prefix`.
  std::vector<int64_t> greedy(const std::vector<int64_t>& prefix, int64_t n) const;
};

/// Prompt tokens of an add_request command.
std::vector<int64_t> toy_prompt(uint64_t model_seed, int64_t vocab, int64_t len, int64_t prompt_seed);

/// Accepted drafts of request `rid` (slot `b` of a bs-request batch) under a decode command's pattern
/// and seed.
int64_t toy_accept_count(SpecAcceptPattern pattern, int64_t seed, int64_t rid, int64_t b, int64_t bs,
                         int64_t num_draft_tokens);

/// The N-1 draft tokens after `prefix` whose first `k` agree with the target's greedy stream.
std::vector<int64_t> toy_drafts(const ToyTarget& target, const std::vector<int64_t>& prefix, int64_t num_draft_tokens,
                                int64_t k, uint64_t salt);

}  // namespace lockstep::reference::spec
