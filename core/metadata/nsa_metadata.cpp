#include "core/metadata/nsa_metadata.h"

#include <limits>

namespace lockstep {
namespace {
constexpr int64_t kMaxBatch = 4096;  // the device kernel scans in shared memory: 6 x (bs+1) i32, 98 KB at 4096
constexpr int64_t kMaxTokens = 1 << 20;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
}  // namespace

int64_t NsaCase::qo_len(int64_t r) const {
  switch (mode) {
    case NsaMode::decode: return 1;
    case NsaMode::target_verify: return draft_tokens;
    case NsaMode::draft_extend: return extend_lens.get_int(r);
  }
  return 0;
}

int64_t NsaCase::kv_len(int64_t r) const {
  return seq_lens.get_int(r) + (mode == NsaMode::target_verify ? draft_tokens : 0);
}

void validate(const NsaCase& c) {
  require(c.topk >= 1 && c.topk <= kInt32Max, "case.topk", c.topk, "must be in [1, 2^31)");
  require(c.page_size >= 1 && c.page_size <= 4096, "case.page_size", c.page_size, "must be in [1, 4096]");
  require(c.block_tokens >= 1 && c.block_tokens <= 1024, "case.block_tokens", c.block_tokens, "must be in [1, 1024]");
  require(c.max_tokens >= 0 && c.max_tokens <= kMaxTokens, "case.max_tokens", c.max_tokens,
          fmt::format("must be in [0, {}]", kMaxTokens));
  if (c.mode == NsaMode::target_verify) {
    require(c.draft_tokens >= 1 && c.draft_tokens <= 64, "case.draft_tokens", c.draft_tokens,
            "must be in [1, 64] for target_verify");
  } else {
    require(c.draft_tokens == 0, "case.draft_tokens", c.draft_tokens, "must be 0 outside target_verify");
  }
  require(c.seq_lens.dtype() == DType::i32 && c.seq_lens.rank() == 1, "case.seq_lens", c.seq_lens.describe(),
          "must be i32 of shape (bs)");
  const int64_t bs = c.bs();
  require(bs <= kMaxBatch, "case.seq_lens", c.seq_lens.describe(), fmt::format("bs must be <= {}", kMaxBatch));
  if (c.mode == NsaMode::draft_extend) {
    require(c.extend_lens.dtype() == DType::i32 && c.extend_lens.shape() == Shape{bs}, "case.extend_lens",
            c.extend_lens.describe(), fmt::format("must be i32 of shape ({}) in draft_extend", bs));
  } else {
    require(c.extend_lens.rank() == 0, "case.extend_lens", c.extend_lens.describe(),
            "must be absent outside draft_extend");
  }
  require(c.page_table.dtype() == DType::i32 && c.page_table.rank() == 2 && c.page_table.dim(0) == bs,
          "case.page_table", c.page_table.describe(), fmt::format("must be i32 of shape ({}, W)", bs));
  require(c.page_table.dim(1) <= 1 << 16, "case.page_table", c.page_table.describe(), "W must be <= 65536");
  auto pt = c.page_table.span<int32_t>();
  for (size_t i = 0; i < pt.size(); ++i) {
    if (pt[i] < 0)
      throw Error(fmt::format("case.page_table[{}][{}]", i / c.page_table.dim(1), i % c.page_table.dim(1)),
                  std::to_string(pt[i]), "token slots must be >= 0");
  }

  // Per-request checks build their messages only on failure (validation runs on every call).
  auto seq_error = [&](int64_t r, const std::string& reason) {
    return Error(fmt::format("case.seq_lens[{}]", r), std::to_string(c.seq_lens.get_int(r)), reason);
  };
  int64_t n = 0, cache_sum = 0, nsa_sum = 0;
  for (int64_t r = 0; r < bs; ++r) {
    const int64_t seq = c.seq_lens.get_int(r), qo = c.qo_len(r), kv = c.kv_len(r);
    if (seq < 0) throw seq_error(r, fmt::format("request {}: negative length", r));
    if (qo < 0)
      throw Error(fmt::format("case.extend_lens[{}]", r), std::to_string(qo), fmt::format("request {}: negative length", r));
    if (kv < qo)
      throw seq_error(r, fmt::format("request {} has kv_len {} < qo_len {} (its expanded key lengths would be <= 0)",
                                     r, kv, qo));
    n += qo;
    cache_sum += kv;
    nsa_sum += qo * std::min<int64_t>(kv, c.topk);  // bound on the clamped sum
    if (cache_sum > kInt32Max || nsa_sum > kInt32Max) throw seq_error(r, "cumulative lengths overflow int32");
  }
  require(n <= c.max_tokens, "case.max_tokens", c.max_tokens,
          fmt::format("smaller than the expanded token count {}", n));
}

NsaOutputs nsa_alloc(const NsaCase& c) {
  NsaOutputs o;
  const int64_t bs = c.bs(), m = c.max_tokens;
  o.num_tokens = Tensor(DType::i32, {1});
  o.cache_seqlens = Tensor(DType::i32, {bs});
  o.cu_seqlens_k = Tensor(DType::i32, {bs + 1});
  o.seqlens_expanded = Tensor(DType::i32, {m});
  o.nsa_cache_seqlens = Tensor(DType::i32, {m});
  o.nsa_cu_seqlens_k = Tensor(DType::i32, {m + 1});
  o.nsa_cu_seqlens_q = Tensor(DType::i32, {m + 1});
  o.page_table_1 = Tensor(DType::i32, {m, c.width()});
  o.real_page_table = Tensor(DType::i32, {m, c.real_width()});
  return o;
}

}  // namespace lockstep
