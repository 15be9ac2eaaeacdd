// 64-bit offsets into the KV cache (issue 9 item 7). A serving pool's cache holds more than 2^31 elements
// (rows x 2*Hkv x D), so every kernel index into it must be computed in 64 bits:
//  - the kernel's pointer-free offset functions at the top of such a pool (host arithmetic);
//  - the kernel body run on the CPU over a sparse, mmap-backed pool of > 2^31 elements whose pages sit at
//    its top (only those pages become resident: a few MB, not 4 GiB);
//  - the full device entry on CUDA with a real > 2^31-element cache (label gpu: skips without a device).
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "attention/rpa_test_util.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/core/backend.h"

using namespace lockstep;

namespace {

constexpr int32_t kHkv = 8, kD = 128, kPage = 16;
constexpr int64_t kRowElems = 2 * kHkv * kD;                          // 2048
constexpr int64_t kPageElems = kPage * kRowElems;                     // 32768
constexpr int64_t kBigPages = (int64_t{1} << 31) / kPageElems + 64;   // 65600 pages: > 2^31 elements
static_assert(kBigPages * kPageElems > (int64_t{1} << 31));

/// A small bf16 case (two sequences with cached prefixes) and the same case with its pages moved to the
/// top of a pool of kBigPages pages: slot value v -> kBigPages - P + v.
struct Relocated {
  RpaCase small;
  std::vector<int32_t> big_pages;  // page_indices of the relocated case
  int64_t offset = 0;              // kBigPages - P
};

Relocated relocated_case() {
  auto spec = lockstep::testing::simple_spec({{3, 37}, {1, 50}, {5, 0}}, kPage, kHkv, 1, kD);
  spec.dtype = DType::bf16;
  spec.spare_pages = 2;
  Relocated r;
  r.small = fuzz::materialize(spec);
  const int64_t P = r.small.kv_cache.dim(0);
  r.offset = kBigPages - P;
  for (int32_t v : r.small.page_indices.span<int32_t>())
    r.big_pages.push_back(v >= 0 && v < P ? static_cast<int32_t>(v + r.offset) : v);
  return r;
}

/// The element offset computed independently, in 128-bit arithmetic.
__int128 exact_cache_offset(int64_t row, int64_t g, int64_t kv, int64_t d) {
  return ((static_cast<__int128>(row) * 2 * kHkv + 2 * g + kv) * kD) + d;
}

}  // namespace

TEST(RpaOffsets, CacheAndTokenOffsetsAre64BitAtTheTopOfAPool) {
  const int64_t rows = (int64_t{1} << 31) - 1;  // largest cache validate() accepts with i32 page indices
  for (int64_t row : {rows - 1, rows / 2, (int64_t{1} << 20) + 3}) {
    for (int32_t kv : {0, 1}) {
      const int64_t off = device::rpa_cache_offset(row, kHkv, kHkv - 1, kv, kD, kD - 1);
      EXPECT_EQ(static_cast<__int128>(off), exact_cache_offset(row, kHkv - 1, kv, kD - 1)) << row;
      EXPECT_GT(off, int64_t{1} << 31);
    }
  }
  const int64_t t = (int64_t{1} << 24) + 5;  // token rows of a long batch with 64 heads of 256
  EXPECT_EQ(device::rpa_token_offset(t, 64, 63, 256, 255), ((t * 64 + 63) * 256) + 255);
}

TEST(RpaOffsets, KernelReadsAndWritesPagesAtTheTopOfASparsePool) {
  const Relocated r = relocated_case();
  const auto want = device::ragged_paged_attention(r.small);  // the same kernel on the small pool
  ASSERT_EQ(want.oob_reads.numel(), 0);

  // The pool, preceded by a guard of 2^31 elements: an offset computed in 32-bit signed arithmetic wraps
  // into the guard (reads zeros, writes land there) instead of crashing, so the comparison names it.
  const size_t guard = (size_t{1} << 31) * sizeof(bf16);
  const size_t bytes = guard + static_cast<size_t>(kBigPages * kPageElems) * sizeof(bf16);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) GTEST_SKIP() << "cannot reserve " << bytes << " bytes of address space";
  auto* pool = reinterpret_cast<bf16*>(static_cast<char*>(mem) + guard);  // (kBigPages, page, 2*Hkv, D), zeros
  const auto small_cache = r.small.kv_cache.span<bf16>();
  std::memcpy(pool + r.offset * kPageElems, small_cache.data(), small_cache.size_bytes());

  // The CPU launcher's setup (device/attention/ragged_paged_attention.cpp) over the pool, in place.
  const RpaCase& c = r.small;
  const device::RpaBlockedMetadata meta = device::rpa_blocked_metadata(c);
  std::vector<OobRead> log(64);
  int log_count = 0;
  const device::PagedKv kv{r.big_pages.data(), static_cast<int32_t>(kBigPages), kPage,
                           device::OobLog{log.data(), 64, &log_count}};
  Tensor out(DType::bf16, {c.num_tokens(), c.num_q_heads, kD});
  device::RpaParams<bf16> a{};
  a.q = c.q.data<bf16>();
  a.k = c.k.data<bf16>();
  a.v = c.v.data<bf16>();
  a.kv_cache = pool;
  a.out = out.data<bf16>();
  a.cache_out = pool;  // the cache update writes the pool in place, after every attention block
  a.kv_lens = c.kv_lens.data<int32_t>();
  a.cu_q_lens = c.cu_q_lens.data<int32_t>();
  a.cu_kv_lens = c.cu_kv_lens.data<int32_t>();
  a.block_seq = meta.block_seq.data();
  a.block_idx = meta.block_idx.data();
  a.num_blocks = static_cast<int32_t>(meta.num_blocks());
  a.num_seqs = static_cast<int32_t>(c.num_seqs);
  a.num_q_heads = static_cast<int32_t>(c.num_q_heads);
  a.num_kv_heads = kHkv;
  a.head_dim = kD;
  a.block_q = static_cast<int32_t>(c.block_q);
  a.block_kv = static_cast<int32_t>(c.block_kv_pages * kPage);
  a.mode = static_cast<int32_t>(c.mode);
  a.sm_scale = static_cast<float>(c.sm_scale);
  a.kv = kv;
  std::vector<unsigned char> smem(static_cast<size_t>(device::rpa_smem_bytes(a.block_q, 1, a.block_kv, kD)));
  for (int64_t b = 0; b < int64_t{a.num_blocks} * kHkv; ++b) device::rpa_block(a, device::BlockCtx{0, 1}, b, smem.data());
  const int32_t n_new = static_cast<int32_t>(c.cu_q_lens.get_int(c.num_seqs));
  for (int64_t e = 0; e < int64_t{n_new} * kHkv * kD; ++e) device::rpa_cache_update_item(a, e);

  EXPECT_EQ(log_count, 0);
  EXPECT_EQ(out, want.out);  // bit for bit
  const auto want_cache = want.kv_cache.span<bf16>();
  EXPECT_EQ(std::memcmp(pool + r.offset * kPageElems, want_cache.data(), want_cache.size_bytes()), 0)
      << "new tokens' K/V written at the top of the pool differ";
  munmap(mem, bytes);
}

// The whole device entry on CUDA with a real cache of > 2^31 elements (4.3 GB bf16 on host and device).
TEST(RpaOffsetsGpu, CudaRunOverAPoolOfMoreThan2e31Elements) {
  std::string why;
  if (!device::cuda_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  const Relocated r = relocated_case();
  const auto want = device::ragged_paged_attention(r.small);
  RpaCase big = r.small;
  big.kv_cache = Tensor(DType::bf16, {kBigPages, kPage, 2 * kHkv, kD});
  ASSERT_GT(big.kv_cache.numel(), int64_t{1} << 31);
  std::memcpy(big.kv_cache.raw() + r.offset * kPageElems * sizeof(bf16), r.small.kv_cache.raw(), r.small.kv_cache.nbytes());
  big.page_indices = Tensor::from<int32_t>({static_cast<int64_t>(r.big_pages.size())}, r.big_pages);
  const auto got = device::ragged_paged_attention(big, device::Options{Backend::cuda, 0});
  EXPECT_EQ(got.oob_reads.numel(), 0);
  EXPECT_EQ(got.out, want.out);
  EXPECT_EQ(std::memcmp(got.kv_cache.raw() + r.offset * kPageElems * sizeof(bf16), want.kv_cache.raw(),
                        want.kv_cache.nbytes()),
            0);
}
