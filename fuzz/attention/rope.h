#pragma once
/// Generator and batching rule of `rope`.
///
/// A case is a small shrinkable spec materialised deterministically. It reaches f32, bf16 and f16; Gemma-4's
/// sliding layer (default rope, theta 1e4, head_dim up to 256) and full layer (proportional, factor 0.25,
/// theta 1e6, global_head_dim up to 512) and other factors (0, 0.125, 0.5, 0.75, 1: no / some / all pairs
/// rotated, odd pair counts via head_dim 6, 12) and thetas; 1–8 q heads, 1–2 kv heads; i32 and i64 positions
/// laid out as 0 (T = 0) to 4 sequences, each a run of consecutive positions after a cached prefix (none, short, long, up
/// to 2^17, rarely 2^20), decode runs of one token, optionally shuffled (out of order) and with repeated
/// positions; q/k values of amplitude 1, 8 or 300 with exact zeros.
#include <vector>

#include <rapidcheck.h>

#include "core/attention/rope.h"
#include "fuzz/core/batching.h"

namespace lockstep::fuzz {

struct RopeSeqSpec {
  int64_t prefix = 0;  ///< position of the run's first token (the cached prefix length)
  int32_t len = 1;     ///< tokens in the run (1 = decode)
};

struct RopeSpec {
  DType dtype = DType::f32;
  DType pos_dtype = DType::i32;
  RopeType rope_type = RopeType::default_rope;
  double theta = 10000.0, factor = 1.0;
  int32_t head_dim = 2, num_q_heads = 1, num_kv_heads = 1;
  std::vector<RopeSeqSpec> seqs;
  bool shuffle = false, repeat = false;
  double amplitude = 1.0;
  uint64_t seed = 0;
};

RopeCase materialize(const RopeSpec& spec);
rc::Gen<RopeSpec> gen_rope_spec();
rc::Gen<RopeCase> gen_rope_case();

/// Per-token batching: token t's rows of the batched outputs equal the outputs of token t alone.
BatchingRule<RopeCase, RopeOutputs> rope_batching_rule();

}  // namespace lockstep::fuzz
