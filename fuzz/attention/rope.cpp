#include "fuzz/attention/rope.h"

#include <algorithm>

#include "core/data.h"
#include "fuzz/core/pick.h"

namespace lockstep::fuzz {

RopeCase materialize(const RopeSpec& s) {
  RopeCase c;
  c.dtype = s.dtype;
  c.rope_type = s.rope_type;
  c.theta = s.theta;
  c.partial_rotary_factor = s.factor;
  c.head_dim = s.head_dim;
  c.num_q_heads = s.num_q_heads;
  c.num_kv_heads = s.num_kv_heads;
  c.data_seed = static_cast<int64_t>(s.seed);
  std::vector<int64_t> pos;
  for (const RopeSeqSpec& q : s.seqs)
    for (int32_t j = 0; j < q.len; ++j) pos.push_back(std::min(q.prefix + j, kRopeMaxPosition - 1));
  SplitMix rng{s.seed};
  if (s.repeat && !pos.empty()) pos.push_back(pos[static_cast<size_t>(rng.below(static_cast<int64_t>(pos.size())))]);
  if (s.shuffle)
    for (size_t i = pos.size(); i > 1; --i) std::swap(pos[i - 1], pos[static_cast<size_t>(rng.below(static_cast<int64_t>(i)))]);
  const int64_t T = static_cast<int64_t>(pos.size());
  c.positions = Tensor(s.pos_dtype, {T});  // (T)
  for (int64_t t = 0; t < T; ++t) c.positions.set(t, static_cast<double>(pos[static_cast<size_t>(t)]));
  c.q = Tensor(s.dtype, {T, s.num_q_heads, s.head_dim});   // (T, nq, hd)
  c.k = Tensor(s.dtype, {T, s.num_kv_heads, s.head_dim});  // (T, nkv, hd)
  for (Tensor* x : {&c.q, &c.k}) {
    for (int64_t i = 0; i < x->numel(); ++i)
      x->set(i, rng.below(16) == 0 ? 0.0 : (2 * rng.uniform() - 1) * s.amplitude);  // some exact zeros
  }
  return c;
}

rc::Gen<RopeSpec> gen_rope_spec() {
  return rc::gen::exec([] {
    RopeSpec s;
    s.dtype = pick({DType::f32, DType::bf16, DType::f16});
    s.pos_dtype = pick({DType::i32, DType::i64});
    switch (pick({0, 0, 1, 1, 1, 2})) {
      case 0:  // Gemma-4 sliding layer
        s.rope_type = RopeType::default_rope;
        s.theta = 1e4;
        s.factor = 1.0;
        s.head_dim = pick({2, 4, 16, 64, 256});
        break;
      case 1:  // Gemma-4 full layer
        s.rope_type = RopeType::proportional;
        s.theta = 1e6;
        s.factor = 0.25;
        s.head_dim = pick({8, 16, 12, 64, 512});
        break;
      default:  // other thetas and factors
        s.rope_type = pick({RopeType::proportional, RopeType::default_rope});
        s.theta = pick({1e4, 5e5, 1e6, 1234.5});
        s.factor = s.rope_type == RopeType::default_rope ? 1.0 : pick({0.0, 0.125, 0.5, 0.75, 1.0});
        s.head_dim = pick({4, 6, 8, 12, 32, 128});
        break;
    }
    s.num_q_heads = pick({1, 2, 4, 8});
    s.num_kv_heads = pick({1, 2});
    const int32_t max_len = s.head_dim >= 256 ? 4 : 16;
    const int n = pick({1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 0});  // 0: no tokens (T = 0)
    for (int i = 0; i < n; ++i) {
      RopeSeqSpec q;
      switch (pick({0, 1, 1, 2, 2, 3})) {  // cached prefix: none / short / long / very long
        case 0: q.prefix = 0; break;
        case 1: q.prefix = *rc::gen::inRange(1, 64); break;
        case 2: q.prefix = *rc::gen::inRange(64, 1 << 17); break;
        default: q.prefix = pick({int64_t{1} << 17, int64_t{1} << 20, kRopeMaxPosition - 8}); break;
      }
      q.len = pick({1, 1, 2}) == 1 ? 1 : *rc::gen::inRange(2, max_len + 1);  // decode or extend
      s.seqs.push_back(q);
    }
    s.shuffle = pick({false, false, true});
    s.repeat = pick({false, false, false, true});
    s.amplitude = pick({1.0, 1.0, 8.0, 300.0});
    s.seed = *rc::gen::arbitrary<uint64_t>();
    return s;
  });
}

rc::Gen<RopeCase> gen_rope_case() { return rc::gen::map(gen_rope_spec(), [](const RopeSpec& s) { return materialize(s); }); }


BatchingRule<RopeCase, RopeOutputs> rope_batching_rule() {
  BatchingRule<RopeCase, RopeOutputs> rule;
  rule.slices = [](const RopeCase& c) { return c.num_tokens(); };
  rule.slice_case = [](const RopeCase& c, int64_t t) {
    RopeCase s = c;
    s.positions = leading_row(c.positions, t);
    s.q = leading_row(c.q, t);
    s.k = leading_row(c.k, t);
    return s;
  };
  rule.slice_outputs = [](const RopeOutputs& o, const RopeCase&, int64_t t) {
    RopeOutputs s;
    s.q = leading_row(o.q, t);
    s.k = leading_row(o.k, t);
    return s;
  };
  return rule;
}

}  // namespace lockstep::fuzz
