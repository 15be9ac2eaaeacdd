#pragma once
/// Case and output types of `nsa_metadata`: sglang's NSA backend metadata for decode, target-verify and
/// draft-extend (CUDA-graph replay semantics; spec: shared/spec/attention-metadata.md §3, decision 6).
///
/// Per request r (bs requests) the op expands qo_r query tokens, each its own length-1 query:
///   decode         qo_r = 1,              kv_r = seq_lens[r],      cache_seqlens[r] = seq_lens[r]
///   target_verify  qo_r = draft_tokens,   kv_r = seq_lens[r] + D,  cache_seqlens[r] = seq_lens[r] + D
///   draft_extend   qo_r = extend_lens[r], kv_r = seq_lens[r],      cache_seqlens[r] = seq_lens[r]
/// (draft_extend: extend_lens = accept_length, already +1, and seq_lens include the accepted tokens.)
///
/// Inputs:
///   seq_lens     i32 (bs)
///   extend_lens  i32 (bs)          draft_extend only (absent otherwise); may hold 0 (a request with no rows)
///   page_table   i32 (bs, W)       req_to_token[req_pool_indices, :W] (token slots, >= 0)
///   max_tokens                     capacity of the preallocated (CUDA-graph) buffers; N = sum(qo) <= max_tokens
/// Outputs (every buffer has its maximum size; entries past the real count N are 0):
///   num_tokens         i32 (1)              N, computed on the device
///   cache_seqlens      i32 (bs)
///   cu_seqlens_k       i32 (bs + 1)         [0, cumsum(cache_seqlens)]
///   seqlens_expanded   i32 (max_tokens)     request r's j-th token: kv_r - qo_r + 1 + j (keys it may see)
///   nsa_cache_seqlens  i32 (max_tokens)     min(seqlens_expanded, topk)
///   nsa_cu_seqlens_k   i32 (max_tokens + 1) [0, cumsum(nsa_cache_seqlens)] over the first N entries
///   nsa_cu_seqlens_q   i32 (max_tokens + 1) [0, 1, ..., N]
///   page_table_1       i32 (max_tokens, W)  row t = page_table[request of t]
///   real_page_table    i32 (max_tokens, cdiv(W, page_size))  page_table_1[:, ::page_size] / page_size
#include <array>
#include <cstdint>

#include "core/fields.h"
#include "core/kernel_enums.h"
#include "core/tensor.h"

namespace lockstep {

// NsaMode: core/kernel_enums.h (the kernel reads it).
template <>
struct EnumNames<NsaMode> {
  static constexpr std::array<const char*, 3> names{"decode", "target_verify", "draft_extend"};
};

struct NsaCase {
  NsaMode mode = NsaMode::decode;
  int64_t topk = 2048;         ///< nsa_index_topk
  int64_t draft_tokens = 0;    ///< D (target_verify)
  int64_t page_size = 1;
  int64_t max_tokens = 0;
  int64_t block_tokens = 128;  ///< device: output tokens per block (threads per block on the GPU)
  Tensor seq_lens, extend_lens, page_table;

  template <class V>
  void fields(V& v) {
    v("mode", mode);
    v("topk", topk, IntRange{1, kFieldInt32Max});
    v("draft_tokens", draft_tokens, IntRange{0, 64});
    v("page_size", page_size, IntRange{1, 4096});
    v("max_tokens", max_tokens, IntRange{0, int64_t{1} << 20});
    v("block_tokens", block_tokens, IntRange{1, 1024});
    v("seq_lens", seq_lens);
    v("extend_lens", extend_lens);
    v("page_table", page_table);
  }

  int64_t bs() const { return seq_lens.numel(); }
  int64_t width() const { return page_table.rank() == 2 ? page_table.dim(1) : 0; }
  int64_t real_width() const { return (width() + page_size - 1) / page_size; }
  /// Query tokens and key length of request r (per the mode table above).
  int64_t qo_len(int64_t r) const;
  int64_t kv_len(int64_t r) const;
};

struct NsaOutputs {
  Tensor num_tokens, cache_seqlens, cu_seqlens_k;
  Tensor seqlens_expanded, nsa_cache_seqlens, nsa_cu_seqlens_k, nsa_cu_seqlens_q;
  Tensor page_table_1, real_page_table;

  template <class V>
  void fields(V& v) {
    v("num_tokens", num_tokens);
    v("cache_seqlens", cache_seqlens);
    v("cu_seqlens_k", cu_seqlens_k);
    v("seqlens_expanded", seqlens_expanded);
    v("nsa_cache_seqlens", nsa_cache_seqlens);
    v("nsa_cu_seqlens_k", nsa_cu_seqlens_k);
    v("nsa_cu_seqlens_q", nsa_cu_seqlens_q);
    v("page_table_1", page_table_1);
    v("real_page_table", real_page_table);
  }
};

/// Validates shapes and values. `kv_len < qo_len` is an error naming the request (decision 6), e.g.
/// `case.seq_lens[1] = 1: request 1 has kv_len 1 < qo_len 3 ...`. Sums must fit in int32.
void validate(const NsaCase& c);

/// Zero-filled outputs of the maximum sizes.
NsaOutputs nsa_alloc(const NsaCase& c);

}  // namespace lockstep
