#include "core/attention/ragged_paged_attention.h"

#include <cmath>

namespace lockstep {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;  // per tensor; cases are test inputs, not models
// The KV cache may be a real pool (H200: ~2^36 bf16 elements); kernels index it in 64 bits. Rows
// (pages x page_size) stay below 2^31: page indices are i32.
constexpr int64_t kMaxCacheElements = int64_t{1} << 37;
constexpr int64_t kMaxKvLen = int64_t{1} << 20;     // the reference holds (kv_len, D) doubles per head

void check_tensor(const Tensor& t, const std::string& name, DType dt, const Shape& shape) {
  require(t.dtype() == dt, "case." + name, t.describe(), fmt::format("dtype must be {}", dtype_name(dt)));
  require(t.shape() == shape, "case." + name, t.describe(), fmt::format("shape must be {}", shape_str(shape)));
}

void check_rank(const Tensor& t, const std::string& name, size_t rank, int64_t max_elements = kMaxElements) {
  require(t.rank() == rank, "case." + name, t.describe(), fmt::format("must have rank {}", rank));
  require(t.numel() <= max_elements, "case." + name, t.describe(), "too many elements");
}

}  // namespace

void validate(const RpaCase& c) {
  require(is_floating(c.dtype), "case.dtype", dtype_name(c.dtype), "must be f32, bf16 or f16");
  require(c.num_q_heads >= 1, "case.num_q_heads", c.num_q_heads, "must be >= 1");
  require(c.num_kv_heads >= 1, "case.num_kv_heads", c.num_kv_heads, "must be >= 1");
  require(c.num_q_heads % c.num_kv_heads == 0, "case.num_q_heads", c.num_q_heads,
          fmt::format("must be a multiple of num_kv_heads = {}", c.num_kv_heads));
  require(c.head_dim >= 1 && c.head_dim <= 1024, "case.head_dim", c.head_dim, "must be in [1, 1024]");
  require(c.page_size >= 1 && c.page_size <= 4096, "case.page_size", c.page_size, "must be in [1, 4096]");
  require(std::isfinite(c.sm_scale), "case.sm_scale", c.sm_scale, "must be finite");
  require(std::isfinite(c.soft_cap) && c.soft_cap >= 0, "case.soft_cap", c.soft_cap, "must be >= 0 (0 = none)");
  require(c.sliding_window >= 0, "case.sliding_window", c.sliding_window, "must be >= 0 (0 = none)");
  require(c.block_q >= 1 && c.block_q <= 256, "case.block_q", c.block_q, "must be in [1, 256]");
  require(c.block_kv_pages >= 1 && c.block_kv_pages <= 1024, "case.block_kv_pages", c.block_kv_pages,
          "must be in [1, 1024]");

  check_rank(c.q, "q", 3);
  const int64_t T = c.q.dim(0), Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  check_tensor(c.q, "q", c.dtype, {T, Hq, D});
  check_tensor(c.k, "k", c.dtype, {T, Hkv, D});
  check_tensor(c.v, "v", c.dtype, {T, Hkv, D});
  check_rank(c.kv_cache, "kv_cache", 4, kMaxCacheElements);
  const int64_t P = c.kv_cache.dim(0);
  check_tensor(c.kv_cache, "kv_cache", c.dtype, {P, c.page_size, 2 * Hkv, D});
  require(P < (int64_t{1} << 31) / c.page_size, "case.kv_cache", c.kv_cache.describe(), "too many cache rows");

  check_rank(c.kv_lens, "kv_lens", 1);
  const int64_t S = c.kv_lens.numel();
  check_tensor(c.kv_lens, "kv_lens", DType::i32, {S});
  check_tensor(c.cu_q_lens, "cu_q_lens", DType::i32, {S + 1});
  check_tensor(c.cu_kv_lens, "cu_kv_lens", DType::i32, {S + 1});
  check_rank(c.page_indices, "page_indices", 1);
  check_tensor(c.page_indices, "page_indices", DType::i32, {c.page_indices.numel()});
  require(c.num_seqs >= 0 && c.num_seqs <= S, "case.num_seqs", c.num_seqs,
          fmt::format("must be in [0, {}] (the padded batch size, len(kv_lens))", S));

  require(c.cu_q_lens.get_int(0) == 0, "case.cu_q_lens[0]", c.cu_q_lens.get_int(0), "must be 0");
  require(c.cu_kv_lens.get_int(0) == 0, "case.cu_kv_lens[0]", c.cu_kv_lens.get_int(0), "must be 0");
  int64_t mask_len = 0;
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const int64_t q0 = c.cu_q_lens.get_int(i), q1 = c.cu_q_lens.get_int(i + 1);
    const int64_t kv = c.kv_lens.get_int(i);
    require(q1 >= q0, fmt::format("case.cu_q_lens[{}]", i + 1), q1, fmt::format("decreases (previous {})", q0));
    require(q1 <= T, fmt::format("case.cu_q_lens[{}]", i + 1), q1, fmt::format("exceeds the token count {}", T));
    require(kv >= 0, fmt::format("case.kv_lens[{}]", i), kv, "negative length");
    require(kv <= kMaxKvLen, fmt::format("case.kv_lens[{}]", i), kv,
            fmt::format("exceeds lockstep's limit of {} keys per sequence", kMaxKvLen));
    require(kv >= q1 - q0, fmt::format("case.kv_lens[{}]", i), kv,
            fmt::format("shorter than q_len {} (cached prefix would be negative)", q1 - q0));
    const int64_t c0 = c.cu_kv_lens.get_int(i), c1 = c.cu_kv_lens.get_int(i + 1);
    const int64_t aligned = (kv + c.page_size - 1) / c.page_size * c.page_size;
    require(c1 - c0 >= aligned, fmt::format("case.cu_kv_lens[{}]", i + 1), c1,
            fmt::format("leaves {} slots for sequence {}, which needs align(kv_len={}, page={}) = {}", c1 - c0, i,
                        kv, c.page_size, aligned));
    require(c0 % c.page_size == 0, fmt::format("case.cu_kv_lens[{}]", i), c0,
            fmt::format("must be a multiple of page_size = {}", c.page_size));
    require(c1 % c.page_size == 0, fmt::format("case.cu_kv_lens[{}]", i + 1), c1,
            fmt::format("must be a multiple of page_size = {}", c.page_size));
    require(c1 / c.page_size <= c.page_indices.numel(), fmt::format("case.cu_kv_lens[{}]", i + 1), c1,
            fmt::format("sequence {} owns page_indices entries up to {} but there are {}", i, c1 / c.page_size,
                        c.page_indices.numel()));
    mask_len += (q1 - q0) * kv;
  }

  switch (c.mode) {
    case MaskMode::causal: break;
    case MaskMode::dense: {
      check_rank(c.custom_mask, "custom_mask", 1);
      require(c.custom_mask.dtype() == DType::i32, "case.custom_mask", c.custom_mask.describe(), "dtype must be i32");
      require(c.custom_mask.numel() >= mask_len, "case.custom_mask", c.custom_mask.describe(),
              fmt::format("needs at least sum(q_len*kv_len) = {} elements", mask_len));
      auto m = c.custom_mask.span<int32_t>();
      for (int64_t i = 0; i < mask_len; ++i) {  // per element: format the field name only on failure
        if (m[i] != 0 && m[i] != 1) {
          throw Error(fmt::format("case.custom_mask[{}]", i), std::to_string(m[i]), "must be 0 (masked) or 1 (attend)");
        }
      }
      break;
    }
    case MaskMode::segment: {
      check_tensor(c.prefix_end, "prefix_end", DType::i32, {S});
      check_tensor(c.row_seg_starts, "row_seg_starts", DType::i32, {T});
      for (int64_t i = 0; i < c.num_seqs; ++i) {
        if (c.prefix_end.get_int(i) != 0) {
          require(c.kv_lens.get_int(i) == c.q_len(i), fmt::format("case.kv_lens[{}]", i), c.kv_lens.get_int(i),
                  fmt::format("segment mode requires no cached prefix for a multi-item request (q_len = {})",
                              c.q_len(i)));
        }
      }
      break;
    }
  }
}

int32_t rpa_window_start(const RpaCase& c, int64_t i) {
  if (c.sliding_window <= 0) return 0;
  const int64_t prefix = c.kv_len(i) - c.q_len(i);
  return static_cast<int32_t>(std::max<int64_t>(0, prefix - c.sliding_window + 1));
}

}  // namespace lockstep
