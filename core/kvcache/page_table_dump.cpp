#include "core/kvcache/page_table_dump.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep {

void validate(const PageTableDumpCase& c) {
  require(c.page_size >= 1 && c.page_size <= 4096, "case.page_size", c.page_size, "must be in [1, 4096]");
  require(c.window >= 0, "case.window", c.window, "must be >= 0 (0 = no window)");
  require(c.full_pages >= 0, "case.full_pages", c.full_pages, "must be >= 0 (0 = unknown)");
  require(c.swa_pages >= 0, "case.swa_pages", c.swa_pages, "must be >= 0 (0 = unknown)");
  require(c.page_table.dtype() == DType::i32 && c.page_table.rank() == 2, "case.page_table",
          fmt::format("{}{}", dtype_name(c.page_table.dtype()), shape_str(c.page_table.shape())),
          "must be an i32 (B, cols) tensor");
  require(c.cols() < (int64_t{1} << 24), "case.page_table", shape_str(c.page_table.shape()), "too many columns");
  // Kernels index keys as col * page_size and round L up by page_size in int32.
  require((c.cols() + 1) * c.page_size <= (int64_t{1} << 31) - 1, "case.page_table", shape_str(c.page_table.shape()),
          fmt::format("(cols + 1) * page_size = {} must be below 2^31", (c.cols() + 1) * c.page_size));
  if (!c.swa_page_table.empty() || c.swa_page_table.rank() > 0) {
    require(c.swa_page_table.dtype() == DType::i32 && c.swa_page_table.shape() == c.page_table.shape(),
            "case.swa_page_table", shape_str(c.swa_page_table.shape()), "must be i32 with page_table's shape");
  }
  require(c.cache_seqlens.dtype() == DType::i32 && c.cache_seqlens.rank() == 1 && c.cache_seqlens.dim(0) == c.rows(),
          "case.cache_seqlens", shape_str(c.cache_seqlens.shape()), "must be i32 (B) with B = page_table rows");
  const bool has_q = c.q_lens.rank() > 0;
  if (has_q) {
    require(c.q_lens.dtype() == DType::i32 && c.q_lens.rank() == 1 && c.q_lens.dim(0) == c.rows(), "case.q_lens",
            shape_str(c.q_lens.shape()), "must be i32 (B) with B = page_table rows");
  }
  for (int64_t b = 0; b < c.rows(); ++b) {
    const int64_t L = c.cache_seqlens.get_int(b);
    require(L >= 0 && L <= c.cols() * c.page_size, fmt::format("case.cache_seqlens[{}]", b), L,
            fmt::format("must be in [0, cols * page_size = {}]", c.cols() * c.page_size));
    if (has_q) {
      const int64_t q = c.q_lens.get_int(b);
      require(q >= 1 && (L == 0 || q <= L), fmt::format("case.q_lens[{}]", b), q,
              fmt::format("must be in [1, cache_seqlens = {}]", L));
    }
  }
}

namespace {
std::vector<int32_t> ints(const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int32_t>(t.get_int(i));
  return v;
}
}  // namespace

PageTableDumpInput page_table_dump_input(const PageTableDumpCase& c) {
  validate(c);
  PageTableDumpInput in;
  in.tables.batch = c.rows();
  in.tables.cols = c.cols();
  in.tables.page_table = ints(c.page_table);
  in.tables.swa_page_table = ints(c.swa_page_table);
  in.cache_seqlens = ints(c.cache_seqlens);
  in.q_lens = c.q_lens.rank() > 0 ? ints(c.q_lens) : std::vector<int32_t>(static_cast<size_t>(c.rows()), 1);
  in.window = ReadWindow{c.page_size, c.window, c.full_pages, c.swa_pages};
  return in;
}

}  // namespace lockstep
