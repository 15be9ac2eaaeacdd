#include "device/metadata/nsa_metadata.h"

#include <vector>

#include "core/error.h"
#include "device/core/launch.h"
#include "device/metadata/nsa_metadata_kernel.h"

namespace lockstep::device {

NsaOutputs nsa_metadata(const NsaCase& c, const Options& opt) {
  validate(c);
  NsaOutputs o = nsa_alloc(c);
  NsaParams p{};
  p.seq_lens = c.seq_lens.data<int32_t>();
  p.extend_lens = c.mode == NsaMode::draft_extend ? c.extend_lens.data<int32_t>() : nullptr;
  p.page_table = c.page_table.data<int32_t>();
  p.num_tokens = o.num_tokens.data<int32_t>();
  p.cache_seqlens = o.cache_seqlens.data<int32_t>();
  p.cu_seqlens_k = o.cu_seqlens_k.data<int32_t>();
  p.seqlens_expanded = o.seqlens_expanded.data<int32_t>();
  p.nsa_cache_seqlens = o.nsa_cache_seqlens.data<int32_t>();
  p.nsa_cu_seqlens_k = o.nsa_cu_seqlens_k.data<int32_t>();
  p.nsa_cu_seqlens_q = o.nsa_cu_seqlens_q.data<int32_t>();
  p.page_table_1 = o.page_table_1.data<int32_t>();
  p.real_page_table = o.real_page_table.data<int32_t>();
  p.bs = static_cast<int32_t>(c.bs());
  p.W = static_cast<int32_t>(c.width());
  p.Wr = static_cast<int32_t>(c.real_width());
  p.page_size = static_cast<int32_t>(c.page_size);
  p.max_tokens = static_cast<int32_t>(c.max_tokens);
  p.block_tokens = static_cast<int32_t>(c.block_tokens);
  p.mode = static_cast<int32_t>(c.mode);
  p.draft_tokens = static_cast<int32_t>(c.draft_tokens);
  p.topk = static_cast<int32_t>(c.topk);
  p.fault = opt.fault;

  LaunchGrid grid;
  grid.blocks = nsa_num_blocks(p.max_tokens, p.block_tokens);
  grid.threads = p.block_tokens;
  grid.smem_bytes = nsa_smem_bytes(p.bs);
  grid.smem_user = "the prefix sums";
  launch(p, grid, opt);
  return o;
}

}  // namespace lockstep::device
