#include "device/attention/ragged_paged_attention.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/oob_reads.h"
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/core/launch.h"

namespace lockstep::device {
namespace {

constexpr int kOobCapacity = 4096;

template <class T, class O>
RpaOutputs run(const RpaCase& c, const Options& opt) {
  const RpaBlockedMetadata meta = rpa_blocked_metadata(c);
  RpaOutputs result;
  result.out = Tensor(dtype_of<O>(), {c.num_tokens(), c.num_q_heads, c.head_dim});
  result.kv_cache = c.kv_cache;
  std::vector<OobRead> oob(kOobCapacity);
  int oob_count = 0;
  const PagedKv kv{c.page_indices.data<int32_t>(), static_cast<int32_t>(c.kv_cache.dim(0)),
                   static_cast<int32_t>(c.page_size), OobLog{oob.data(), kOobCapacity, &oob_count}};

  RpaParams<T, O> a{};
  a.q = c.q.data<T>();
  a.k = c.k.data<T>();
  a.v = c.v.data<T>();
  a.kv_cache = c.kv_cache.data<T>();
  a.out = result.out.data<O>();
  a.cache_out = result.kv_cache.data<T>();
  a.kv_lens = c.kv_lens.data<int32_t>();
  a.cu_q_lens = c.cu_q_lens.data<int32_t>();
  a.cu_kv_lens = c.cu_kv_lens.data<int32_t>();
  a.custom_mask = c.mode == MaskMode::dense ? c.custom_mask.data<int32_t>() : nullptr;
  a.mask_offsets = c.mode == MaskMode::dense ? meta.mask_offsets.data() : nullptr;
  a.prefix_end = c.mode == MaskMode::segment ? c.prefix_end.data<int32_t>() : nullptr;
  a.seg_starts_blocked = c.mode == MaskMode::segment ? meta.seg_starts_blocked.data() : nullptr;
  a.block_seq = meta.block_seq.data();
  a.block_idx = meta.block_idx.data();
  a.num_blocks = static_cast<int32_t>(meta.num_blocks());
  a.num_tokens = static_cast<int32_t>(c.num_tokens());
  a.num_seqs = static_cast<int32_t>(c.num_seqs);
  a.num_seqs_padded = static_cast<int32_t>(c.padded_seqs());
  a.custom_mask_len = a.custom_mask ? c.custom_mask.numel() : 0;
  a.page_slots = c.page_indices.numel();
  a.num_q_heads = static_cast<int32_t>(c.num_q_heads);
  a.num_kv_heads = static_cast<int32_t>(c.num_kv_heads);
  a.head_dim = static_cast<int32_t>(c.head_dim);
  a.block_q = static_cast<int32_t>(c.block_q);
  a.block_kv = static_cast<int32_t>(c.block_kv_pages * c.page_size);
  a.mode = static_cast<int32_t>(c.mode);
  a.sm_scale = static_cast<float>(c.sm_scale);
  a.soft_cap = static_cast<float>(c.soft_cap);
  a.sliding_window = static_cast<int32_t>(c.sliding_window);
  a.fault = opt.fault;
  a.kv = kv;

  // Attention blocks, then the cache update items (after every block, as the CUDA stream orders the two
  // kernels; in item order on the CPU since items may share pages).
  const int64_t n_new = c.num_seqs > 0 ? c.cu_q_lens.get_int(c.num_seqs) : 0;
  LaunchGrid grid;
  grid.blocks = int64_t{a.num_blocks} * a.num_kv_heads;
  grid.threads = 128;
  grid.smem_bytes = rpa_smem_bytes(a.block_q, a.num_q_heads / a.num_kv_heads, a.block_kv, a.head_dim);
  grid.smem_user = "the attention tile";
  grid.smem_hint = " (reduce block_q or block_kv_pages)";
  grid.items = n_new * a.num_kv_heads * a.head_dim;
  launch(a, grid, opt);

  std::map<std::pair<int32_t, int32_t>, OobRead> unique;
  for (int i = 0; i < std::min(oob_count, kOobCapacity); ++i) {
    auto [it, inserted] = unique.try_emplace({oob[i].seq, oob[i].slot}, oob[i]);
    if (!inserted) it->second.token = std::min(it->second.token, oob[i].token);
  }
  std::vector<OobRead> reads;
  for (auto& [key, rec] : unique) reads.push_back(rec);
  result.oob_reads = oob_tensor(reads);
  result.oob_dropped = std::max(0, oob_count - kOobCapacity);
  return result;
}

}  // namespace

int64_t RpaBlockedMetadata::segment_bytes(int64_t padded_seqs) const {
  return static_cast<int64_t>(seg_starts_blocked.size() + block_seq.size() + block_idx.size() + padded_seqs) * 4;
}

RpaBlockedMetadata rpa_blocked_metadata(const RpaCase& c) {
  RpaBlockedMetadata meta;
  const int64_t bq = c.block_q;
  int64_t mask_offset = 0;
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const int64_t q_len = c.q_len(i), q0 = c.cu_q_lens.get_int(i);
    for (int64_t b = 0; b * bq < q_len; ++b) {
      meta.block_seq.push_back(static_cast<int32_t>(i));
      meta.block_idx.push_back(static_cast<int32_t>(b));
      if (c.mode == MaskMode::segment) {
        for (int64_t j = 0; j < bq; ++j) {
          const int64_t row = b * bq + j;
          meta.seg_starts_blocked.push_back(row < q_len ? static_cast<int32_t>(c.row_seg_starts.get_int(q0 + row)) : 0);
        }
      }
    }
    if (c.mode == MaskMode::dense) {
      meta.mask_offsets.push_back(mask_offset);
      mask_offset += int64_t{c.q_len(i)} * c.kv_len(i);
    }
  }
  return meta;
}

RpaOutputs ragged_paged_attention(const RpaCase& c, const Options& options) {
  validate(c);
  switch (c.dtype) {
    case DType::f32: return run<float, float>(c, options);
    case DType::bf16: return options.f32_output ? run<bf16, float>(c, options) : run<bf16, bf16>(c, options);
    case DType::f16: return options.f32_output ? run<f16, float>(c, options) : run<f16, f16>(c, options);
    default: throw Error("case.dtype", dtype_name(c.dtype), "unsupported by the device kernel");
  }
}

}  // namespace lockstep::device
