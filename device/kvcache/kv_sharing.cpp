#include "device/kvcache/kv_sharing.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/core/launch.h"
#include "device/kvcache/kv_sharing_kernel.h"

namespace lockstep::device {
namespace {

/// A shared layer's reduced query block: the gather kernel's q, k, v and the slot of each row.
struct Reduced {
  Tensor q, k, v;
  std::vector<int32_t> slots;
};

template <class T>
Reduced gather(const KvSharingCase& c, const Tensor& q_layer, const Tensor& src_cache, const Tensor* k_own,
               const Tensor* v_own, const std::vector<int32_t>& new_qsl, int64_t rows, const Options& opt) {
  const int64_t Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  Reduced red{Tensor(c.dtype, {rows, Hq, D}), Tensor(c.dtype, {rows, Hkv, D}), Tensor(c.dtype, {rows, Hkv, D}),
              std::vector<int32_t>(static_cast<size_t>(rows), -1)};
  KvSharingGatherParams<T> p{};
  p.q_layer = q_layer.data<T>();
  p.kv_source = src_cache.data<T>();
  p.k_own = k_own ? k_own->data<T>() : nullptr;
  p.v_own = v_own ? v_own->data<T>() : nullptr;
  p.logits_indices = c.logits_indices_padded.data<int32_t>();
  p.new_qsl = new_qsl.data();
  p.seq_lens = c.seq_lens.data<int32_t>();
  p.cu_kv_lens = c.cu_kv_lens.data<int32_t>();
  p.page_indices = c.page_indices.data<int32_t>();
  p.q_out = red.q.data<T>();
  p.k_out = red.k.data<T>();
  p.v_out = red.v.data<T>();
  p.slot_out = red.slots.data();
  p.page_slots = c.page_indices.numel();
  p.cache_elems = src_cache.numel();
  p.num_tokens = static_cast<int32_t>(c.num_tokens());
  p.num_logits_padded = static_cast<int32_t>(c.logits_indices_padded.numel());
  p.num_rows = static_cast<int32_t>(rows);
  p.num_reqs = static_cast<int32_t>(c.num_reqs);
  p.num_q_heads = static_cast<int32_t>(Hq);
  p.num_kv_heads = static_cast<int32_t>(Hkv);
  p.head_dim = static_cast<int32_t>(D);
  p.page_size = static_cast<int32_t>(c.page_size);
  LaunchGrid grid;
  grid.blocks = rows;
  grid.threads = 128;
  launch(p, grid, opt);
  return red;
}

Reduced gather_any(const KvSharingCase& c, const Tensor& q_layer, const Tensor& src_cache, const Tensor* k_own,
                   const Tensor* v_own, const std::vector<int32_t>& new_qsl, int64_t rows, const Options& opt) {
  switch (c.dtype) {
    case DType::f32: return gather<float>(c, q_layer, src_cache, k_own, v_own, new_qsl, rows, opt);
    case DType::bf16: return gather<bf16>(c, q_layer, src_cache, k_own, v_own, new_qsl, rows, opt);
    case DType::f16: return gather<f16>(c, q_layer, src_cache, k_own, v_own, new_qsl, rows, opt);
    default: throw Error("case.dtype", dtype_name(c.dtype), "unsupported by the device kernel");
  }
}

}  // namespace

KvSharingOutputs kv_sharing(const KvSharingCase& c, const Options& opt) {
  validate(c);
  const int64_t L = c.num_layers, R = c.num_reqs, T = c.num_tokens(), n = c.num_logits_indices;
  const int64_t Hq = c.num_q_heads, D = c.head_dim;
  const bool transform = !c.pure_decode();  // vLLM: `if max_query_len == 1: return metadata` (host side)
  KvSharingOutputs o;

  std::vector<int32_t> kv_source(static_cast<size_t>(L)), request_ids(static_cast<size_t>(transform ? n : 0));
  std::vector<int32_t> counts(static_cast<size_t>(R)), new_qsl(static_cast<size_t>(R + 1)), max_q(1, 0);
  std::vector<int32_t> slot_mapping(static_cast<size_t>(T), -1);
  KvSharingMetaParams m{};
  m.layer_types = c.layer_types.data<int32_t>();
  m.query_start_loc = c.query_start_loc.data<int32_t>();
  m.logits_indices = c.logits_indices_padded.data<int32_t>();
  m.seq_lens = c.seq_lens.data<int32_t>();
  m.cu_kv_lens = c.cu_kv_lens.data<int32_t>();
  m.page_indices = c.page_indices.data<int32_t>();
  m.kv_source = kv_source.data();
  m.request_ids = request_ids.data();
  m.counts = counts.data();
  m.new_qsl = new_qsl.data();
  m.max_query_len = max_q.data();
  m.slot_mapping = slot_mapping.data();
  m.page_slots = c.page_indices.numel();
  m.num_layers = static_cast<int32_t>(L);
  m.first_shared = static_cast<int32_t>(c.first_shared());
  m.num_reqs = static_cast<int32_t>(R);
  m.num_logits_padded = static_cast<int32_t>(c.logits_indices_padded.numel());
  m.num_logits = static_cast<int32_t>(n);
  m.num_tokens = static_cast<int32_t>(T);
  m.page_size = static_cast<int32_t>(c.page_size);
  m.transform = transform;
  m.fault = opt.fault;
  LaunchGrid grid;
  grid.blocks = 2 + R;
  grid.threads = 128;
  launch(m, grid, opt);

  o.kv_source = Tensor::from<int32_t>({L}, kv_source);
  for (int64_t i = 0; i < L; ++i)
    if (kv_source[i] == kKvSourceNoMatch) {
      o.config_error = kv_sharing_error(c, i);
      break;
    }
  if (transform) {
    o.request_ids = Tensor::from<int32_t>({n}, request_ids);
    o.max_query_len = max_q[0];
  } else {
    std::copy(c.query_start_loc.data<int32_t>(), c.query_start_loc.data<int32_t>() + R + 1, new_qsl.begin());
    o.request_ids = Tensor::from<int32_t>({0}, {});
    o.max_query_len = c.max_query_len;
  }
  o.query_start_loc = Tensor::from<int32_t>({R + 1}, new_qsl);
  o.num_actual_tokens = new_qsl[R];
  o.seq_lens = c.seq_lens;
  o.num_reqs = R;
  o.max_seq_len = R > 0 ? *std::max_element(c.seq_lens.data<int32_t>(), c.seq_lens.data<int32_t>() + R) : 0;
  if (!o.config_error.empty()) return o;

  // The layer stack: one attention call per layer, in layer order (a shared layer reads its source's cache as
  // the earlier layers left it).
  const DType out_dtype = opt.f32_output ? DType::f32 : c.dtype;
  o.kv_cache = c.kv_cache;
  o.out = Tensor(out_dtype, {L, T, Hq, D});
  std::vector<int32_t> writes(static_cast<size_t>(L * T), -1);
  const int64_t layer_out_bytes = o.out.nbytes() / L, layer_cache_bytes = o.kv_cache.nbytes() / L;
  const Tensor new_qsl_t = Tensor::from<int32_t>({R + 1}, new_qsl);
  for (int64_t l = 0; l < L; ++l) {
    const int32_t src = kv_source[l];
    if (src == kKvSourceNotShared) {
      const RpaOutputs a = ragged_paged_attention(
          kv_sharing_attention_case(c, l, kv_sharing_layer(c.q, l), kv_sharing_layer(c.k, l),
                                    kv_sharing_layer(c.v, l), kv_sharing_layer(o.kv_cache, l), c.query_start_loc),
          Options{opt.backend, 0, opt.cpu_threads, opt.f32_output});
      std::memcpy(o.out.raw() + l * layer_out_bytes, a.out.raw(), a.out.nbytes());
      std::memcpy(o.kv_cache.raw() + l * layer_cache_bytes, a.kv_cache.raw(), a.kv_cache.nbytes());
      std::copy(slot_mapping.begin(), slot_mapping.end(), writes.begin() + l * T);
      continue;
    }
    // KV-shared layer (layer_id = src, save_kv_cache = False): the reduced query block over the source's cache.
    const bool saves = opt.fault == kKvShareFaultSharedLayerWritesCache;
    const Tensor src_cache = kv_sharing_layer(o.kv_cache, src);
    const Tensor k_own = saves ? kv_sharing_layer(c.k, l) : Tensor(), v_own = saves ? kv_sharing_layer(c.v, l) : Tensor();
    const int64_t rows = o.num_actual_tokens;
    Reduced red = gather_any(c, kv_sharing_layer(c.q, l), src_cache, saves ? &k_own : nullptr,
                             saves ? &v_own : nullptr, new_qsl, rows, opt);
    const std::vector<int32_t> red_slots = red.slots;
    const RpaOutputs a = ragged_paged_attention(
        kv_sharing_attention_case(c, l, std::move(red.q), std::move(red.k), std::move(red.v), src_cache, new_qsl_t),
        Options{opt.backend, 0, opt.cpu_threads, opt.f32_output});
    std::memcpy(o.out.raw() + l * layer_out_bytes, a.out.raw(), a.out.nbytes());
    if (saves) {  // the attention call's cache write lands in the source layer's cache
      std::memcpy(o.kv_cache.raw() + src * layer_cache_bytes, a.kv_cache.raw(), a.kv_cache.nbytes());
      for (int64_t k = 0; k < rows; ++k) writes[l * T + c.logits_indices_padded.get_int(k)] = red_slots[k];
    }
  }
  o.slot_writes = Tensor::from<int32_t>({L, T}, writes);
  return o;
}

}  // namespace lockstep::device
