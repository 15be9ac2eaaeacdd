#include "reference/spec/toy_model.h"

namespace lockstep::reference::spec {

uint64_t spec_mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t ToyTarget::start() const { return spec_mix(seed ^ 0x7a1e7a1eull); }

int64_t ToyTarget::next(std::span<const int64_t> prefix) const {
  uint64_t h = start();
  for (int64_t t : prefix) h = push(h, t);
  return token(h);
}

std::vector<int64_t> ToyTarget::greedy(const std::vector<int64_t>& prefix, int64_t n) const {
  uint64_t h = start();
  for (int64_t t : prefix) h = push(h, t);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(token(h));
    h = push(h, out.back());
  }
  return out;
}

std::vector<int64_t> toy_prompt(uint64_t model_seed, int64_t vocab, int64_t len, int64_t prompt_seed) {
  std::vector<int64_t> p;
  uint64_t h = spec_mix(model_seed * 31 + static_cast<uint64_t>(prompt_seed));
  for (int64_t i = 0; i < len; ++i) {
    h = spec_mix(h);
    p.push_back(static_cast<int64_t>(h % static_cast<uint64_t>(vocab)));
  }
  return p;
}

int64_t toy_accept_count(SpecAcceptPattern pattern, int64_t seed, int64_t rid, int64_t b, int64_t bs, int64_t n) {
  const int64_t mixed = static_cast<int64_t>(spec_mix(spec_mix(static_cast<uint64_t>(seed) * 1000003) ^ rid) % n);
  switch (pattern) {
    case SpecAcceptPattern::zero_all: return 0;
    case SpecAcceptPattern::full_all: return n - 1;
    case SpecAcceptPattern::zero_one: return b == seed % bs ? 0 : mixed;
    case SpecAcceptPattern::mixed: break;
  }
  return mixed;
}

std::vector<int64_t> toy_drafts(const ToyTarget& target, const std::vector<int64_t>& prefix, int64_t n, int64_t k,
                                uint64_t salt) {
  std::vector<int64_t> ctx = prefix, drafts;
  for (int64_t j = 0; j + 1 < n; ++j) {
    const int64_t g = target.next(ctx);
    int64_t d;
    if (j < k) {
      d = g;
    } else if (j == k) {
      d = (g + 1 + static_cast<int64_t>(spec_mix(salt + j) % static_cast<uint64_t>(target.vocab - 1))) % target.vocab;
    } else {
      d = static_cast<int64_t>(spec_mix(salt ^ (j * 977)) % static_cast<uint64_t>(target.vocab));
    }
    drafts.push_back(d);
    ctx.push_back(d);
  }
  return drafts;
}

}  // namespace lockstep::reference::spec
