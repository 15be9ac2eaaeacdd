#include "device/metadata/segment_seqlens_offsets.h"

#include <vector>

#include "core/error.h"
#include "device/core/launch.h"
#include "device/metadata/segment_seqlens_offsets_kernel.h"

namespace lockstep::device {

SegmentSeqlensOutputs segment_seqlens_offsets(const SegmentSeqlensCase& c, const Options& opt) {
  validate(c);
  SegmentSeqlensOutputs o = segment_seqlens_alloc(c);
  const int64_t E = c.num_slices(), B = c.batch(), Tq = c.q_tokens(), Tk = c.kv_tokens();
  std::vector<int32_t> q_rl(static_cast<size_t>(E * B * Tq)), kv_rl(static_cast<size_t>(E * B * Tk));
  std::vector<int32_t> row_ids(q_rl.size()), col_ids(kv_rl.size());
  const bool thd = c.layout == QkvLayout::thd;
  const int64_t q_slices = segment_pos_slices(c.q_segment_pos), kv_slices = segment_pos_slices(c.kv_segment_pos);

  SegmentParams p{};
  p.q_ids = c.q_segment_ids.data<int32_t>();
  p.kv_ids = c.kv_segment_ids.data<int32_t>();
  p.q_pos_in = q_slices > 0 ? c.q_segment_pos.data<int32_t>() : nullptr;
  p.kv_pos_in = kv_slices > 0 ? c.kv_segment_pos.data<int32_t>() : nullptr;
  p.q_pos_slices = q_slices;
  p.kv_pos_slices = kv_slices;
  p.q_pos = o.q_segment_pos.data<int32_t>();
  p.kv_pos = o.kv_segment_pos.data<int32_t>();
  p.q_rl = q_rl.data();
  p.kv_rl = kv_rl.data();
  p.row_ids = row_ids.data();
  p.col_ids = col_ids.data();
  p.q_seqlens = o.q_seqlens.data<int32_t>();
  p.kv_seqlens = o.kv_seqlens.data<int32_t>();
  p.q_offsets = thd ? o.q_offsets.data<int32_t>() : nullptr;
  p.kv_offsets = thd ? o.kv_offsets.data<int32_t>() : nullptr;
  p.B = B;
  p.Tq = Tq;
  p.Tkv = Tk;
  p.S = c.max_segments_per_seq;
  p.total_rows = E * B;
  p.thd = thd;
  p.causal = mask_is_causal(c.mask);
  p.bottom_right = mask_is_bottom_right(c.mask);
  p.padding = mask_is_padding(c.mask);
  p.fault = opt.fault;

  // Slices to launch: the product of the ids' extra dims (the fault takes the product of the positions'
  // extra dims, which is 1 when the positions are unbatched).
  int64_t slices = E;
  if (opt.fault == kSegFaultEmptyExtraShape && q_slices > 0) slices = E == 0 ? 0 : q_slices;
  LaunchGrid grid;
  grid.blocks = slices * B;
  grid.threads = 128;
  launch(p, grid, opt);
  return o;
}

}  // namespace lockstep::device
