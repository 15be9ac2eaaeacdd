/// The op registry: ONE row per op. A row names the op's case/outputs types, generator, the two sides of
/// its contract, its coverage regions, its faults (listed next to its kernel) and its optional hooks
/// (tolerance, extra check, stateful run); the per-output comparison rules are declared with the outputs'
/// fields (core/fields.h Rule). Adding an op: its files in each layer, then one row (and its includes) here.
#include <deque>
#include <string>

#include "core/error.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "device/kvcache/pool_sizing.h"
#include "device/metadata/nsa_metadata.h"
#include "device/metadata/nsa_metadata_kernel.h"
#include "device/metadata/segment_seqlens_offsets.h"
#include "device/metadata/segment_seqlens_offsets_kernel.h"
#include "device/spec/spec_verify_kernel.h"
#include "fuzz/kvcache/kv_trace.h"
#include "fuzz/kvcache/page_table.h"
#include "fuzz/kvcache/pool_sizing.h"
#include "fuzz/spec/spec_decode.h"
#include "oracle/attention/ragged_paged_attention.h"
#include "oracle/kvcache/kv_trace.h"
#include "oracle/kvcache/page_table.h"
#include "oracle/lockstep_op.h"
#include "oracle/metadata/nsa_metadata.h"
#include "oracle/metadata/segment_seqlens_offsets.h"
#include "oracle/spec/spec_decode.h"
#include "reference/kvcache/kv_trace.h"
#include "reference/kvcache/page_table.h"
#include "reference/kvcache/pool_sizing.h"
#include "device/kvcache/kv_sharing.h"
#include "device/kvcache/kv_sharing_kernel.h"
#include "fuzz/kvcache/kv_sharing.h"
#include "oracle/kvcache/kv_sharing.h"
#include "reference/kvcache/kv_sharing.h"
// Issue 10: gelu_tanh_mul, rope.
#include "device/activation/gelu_tanh_mul.h"
#include "device/activation/gelu_tanh_mul_kernel.h"
#include "oracle/activation/gelu_tanh_mul.h"
#include "device/attention/rope.h"
#include "device/attention/rope_kernel.h"
#include "oracle/attention/rope.h"
#include "device/moe/moe_routing.h"
#include "device/moe/moe_routing_kernel.h"
#include "oracle/moe/moe_routing.h"
#include "device/norm/qkv_rmsnorm.h"
#include "device/norm/qkv_rmsnorm_kernel.h"
#include "device/norm/rmsnorm.h"
#include "device/norm/rmsnorm_kernel.h"
#include "fuzz/norm/qkv_rmsnorm.h"
#include "fuzz/norm/rmsnorm.h"
#include "oracle/norm/qkv_rmsnorm.h"
#include "oracle/norm/rmsnorm.h"
#include "reference/norm/qkv_rmsnorm.h"
#include "reference/norm/rmsnorm.h"

namespace lockstep::oracle {
namespace {

template <class Case, class Outputs>
std::unique_ptr<Op> row(const OpRow<Case, Outputs>& r) {
  return std::make_unique<LockstepOp<Case, Outputs>>(r);
}

std::vector<std::unique_ptr<Op>> rows() {
  std::vector<std::unique_ptr<Op>> v;
  v.push_back(row<RpaCase, RpaOutputs>({
      .name = "ragged_paged_attention",
      .summary = "ragged paged attention (GQA, paged KV, cached prefix, causal/dense/segment masks, window, soft cap)",
      .generator = fuzz::gen_rpa_case, .reference = reference::ragged_paged_attention,
      .device = device::ragged_paged_attention, .regions = ragged_paged_attention_regions,
      .faults = device::kRpaFaults, .tolerance = ragged_paged_attention_tolerance,
      .check = ragged_paged_attention_stats, .batching = fuzz::rpa_batching_rule}));
  v.push_back(row<KvTraceCase, KvTraceOutputs>({
      .name = "kv_trace",
      .summary = "KV pools (full + SWA, mapping, eviction) driven by a command trace; page tables built, translated "
                 "and read-checked by the device kernel after every command; leak invariant",
      .generator = fuzz::gen_kv_trace_case, .reference = reference::kvcache::kv_trace, .device = device_kv_trace,
      .regions = kv_trace_regions, .faults = device::kKvTraceFaults, .tolerance = kv_trace_tolerance,
      .check = kv_trace_stats}));
  v.push_back(row<PoolSizingCase, PoolSizingOutputs>({
      .name = "pool_sizing",
      .summary = "hybrid SWA/full KV pool sizes from available memory, layer counts, bytes per token, ratio, page size",
      .generator = fuzz::gen_pool_sizing_case, .reference = reference::kvcache::pool_sizing,
      .device = device::pool_sizing, .regions = [] {
        using C = const PoolSizingCase&;
        return Regions<PoolSizingCase>()
            .values("model", {"dense", "moe"}, [](C c) { return c.num_experts > 0 ? "moe" : "dense"; })
            .values("ratio", {"default", "explicit"}, [](C c) { return c.ratio > 0 ? "explicit" : "default"; })
            .values("full_layers", {"0", "1+"}, [](C c) { return c.num_full_layers == 0 ? "0" : "1+"; })
            .values("page_size", {"1", "16", "32", "64"}, [](C c) { return std::to_string(c.page_size); })
            .values("budget", {"<16MiB", ">=16MiB"}, [](C c) { return c.available_bytes < (1 << 24) ? "<16MiB" : ">=16MiB"; })
            .build();
      }, .faults = device::kPoolSizingFaults}));
  v.push_back(row<PageTableDumpCase, PageTableDumpOutputs>({
      .name = "page_table",
      .summary = "page-table dump (page_table, swa_page_table, cache_seqlens): entries a kernel reads that are out of "
                 "range or unallocated/evicted; reference validator vs device read walk",
      .generator = fuzz::gen_page_table_dump_case, .reference = reference::kvcache::page_table,
      .device = device::page_table, .regions = page_table_regions, .faults = device::kPageTableFaults,
      .check = page_table_check}));
  v.push_back(row<SpecDecodeCase, SpecDecodeOutputs>({
      .name = "spec_decode",
      .summary = "speculative-decoding scheduler (topk=1 chains, greedy verify, v1/v2 bookkeeping, merge/filter/abort/"
                 "retract) under stateful command-sequence fuzzing",
      .generator = [] { return fuzz::gen_spec_case(); }, .reference = spec_decode_reference,
      .device = spec_decode_device, .regions = spec_decode_regions, .faults = device::kSpecDecodeFaults,
      .run = spec_decode_lockstep}));
  v.push_back(row<SegmentSeqlensCase, SegmentSeqlensOutputs>({
      .name = "segment_seqlens_offsets",
      .summary = "TransformerEngine segment ids/positions -> seqlens/offsets (THD/BSHD, masks, extra vmap batch dims)",
      .generator = fuzz::gen_segment_case, .reference = reference::segment_seqlens_offsets,
      .device = device::segment_seqlens_offsets, .regions = segment_seqlens_offsets_regions,
      .faults = device::kSegmentFaults, .batching = fuzz::segment_batching_rule}));
  v.push_back(row<NsaCase, NsaOutputs>({
      .name = "nsa_metadata",
      .summary = "sglang NSA metadata: decode / target_verify / draft_extend expansion, topk clamp, page rows",
      .generator = fuzz::gen_nsa_case, .reference = reference::nsa_metadata, .device = device::nsa_metadata,
      .regions = nsa_metadata_regions, .faults = device::kNsaFaults, .batching = fuzz::nsa_batching_rule}));
  v.push_back(row<KvSharingCase, KvSharingOutputs>({
      .name = "kv_sharing",
      .summary = "YOCO / KV-sharing fast prefill: source-layer rule (with its ValueError), the reduced-query-block "
                 "metadata transform, shared layers attending over their source's cache without writing it",
      .generator = fuzz::gen_kv_sharing_case, .reference = reference::kv_sharing, .device = device::kv_sharing,
      .regions = kv_sharing_regions, .faults = device::kKvSharingFaults, .tolerance = kv_sharing_tolerance,
      .check = kv_sharing_stats, .batching = fuzz::kv_sharing_batching_rule}));
  v.push_back(row<GeluTanhMulCase, GeluTanhMulOutputs>({
      .name = "gelu_tanh_mul",
      .summary = "Gemma-4 PLE activation: gelu_pytorch_tanh(gate) * ple per row in fp32 (bf16/f16/f32, saturation, "
                 "fp32 g^3 overflow, subnormals)",
      .generator = fuzz::gen_gelu_tanh_mul_case, .reference = reference::gelu_tanh_mul,
      .device = device::gelu_tanh_mul, .regions = gelu_tanh_mul_regions, .faults = device::kGeluFaults,
      .tolerance = gelu_tanh_mul_tolerance, .batching = fuzz::gelu_tanh_mul_batching_rule}));
  v.push_back(row<RopeCase, RopeOutputs>({
      .name = "rope",
      .summary = "Gemma-4 RoPE on q and k over ragged positions: sliding (default, theta 1e4) and full (HF "
                 "proportional, partial_rotary_factor 0.25, theta 1e6) layers, fp32 angles",
      .generator = fuzz::gen_rope_case, .reference = reference::rope, .device = device::rope,
      .regions = rope_regions, .faults = device::kRopeFaults, .tolerance = rope_tolerance,
      .batching = fuzz::rope_batching_rule}));
  v.push_back(row<MoeRoutingCase, MoeRoutingOutputs>({
      .name = "moe_routing",
      .summary = "Gemma-4 fused MoE routing: top-K on fp32 logits in the sort-key total order (ties to the lowest id, "
                 "+0 above -0, NaN by sign), softmax over the K selected with the S > 0 guard, x per_expert_scale",
      .generator = fuzz::gen_moe_routing_case, .reference = reference::moe_routing, .device = device::moe_routing,
      .regions = moe_routing_regions, .faults = device::kMoeRoutingFaults, .tolerance = moe_routing_tolerance,
      .batching = fuzz::moe_routing_batching_rule}));
  v.push_back(row<RmsNormCase, RmsNormOutputs>({
      .name = "rmsnorm",
      .summary = "Gemma-4 fused RMSNorm family (x*w, no-weight, add_rmsnorm, rmsnorm_add, residual scalar, dual, "
                 "post-attn triple), fp32 row reductions, any width",
      .generator = fuzz::gen_rmsnorm_case, .reference = reference::rmsnorm, .device = device::rmsnorm,
      .regions = rmsnorm_regions, .faults = device::kRmsNormFaults, .tolerance = rmsnorm_tolerance,
      .check = rmsnorm_f32_check, .batching = fuzz::rmsnorm_batching_rule}));
  v.push_back(row<QkvRmsNormCase, QkvRmsNormOutputs>({
      .name = "qkv_rmsnorm",
      .summary = "Gemma-4 per-head q/k/v RMSNorm (q, k weighted, v unweighted; q only on a KV-shared layer)",
      .generator = fuzz::gen_qkv_rmsnorm_case, .reference = reference::qkv_rmsnorm, .device = device::qkv_rmsnorm,
      .regions = qkv_rmsnorm_regions, .faults = device::kQkvNormFaults, .tolerance = qkv_rmsnorm_tolerance,
      .batching = fuzz::qkv_rmsnorm_batching_rule}));
  return v;
}

}  // namespace

const std::vector<std::unique_ptr<Op>>& registry() {
  static const std::vector<std::unique_ptr<Op>> ops = rows();
  return ops;
}

const Op& find_op(const std::string& name) {
  std::string known;
  for (const auto& op : registry()) {
    if (op->name() == name) return *op;
    known += (known.empty() ? "" : ", ") + op->name();
  }
  throw Error("--op", name, "unknown op (known: " + known + ")");
}

}  // namespace lockstep::oracle

namespace lockstep::device {

const std::vector<FaultInfo>& all_faults() {
  static const std::vector<FaultInfo> faults = [] {
    static std::deque<std::string> op_names;  // stable storage for FaultInfo::op
    std::vector<FaultInfo> v;
    for (const auto& op : oracle::registry()) {
      op_names.push_back(op->name());
      for (const Fault& f : op->faults()) v.push_back({f.name, op_names.back().c_str(), f.id, f.description});
    }
    return v;
  }();
  return faults;
}

int fault_id(std::string_view op, std::string_view name) {
  if (name.empty() || name == "none") return 0;
  std::string known;
  for (const FaultInfo& f : all_faults()) {
    if (f.op != op) continue;
    if (name == f.name) return f.id;
    known += (known.empty() ? "" : ", ") + std::string(f.name);
  }
  throw Error("--fault", std::string(name),
              fmt::format("no such fault for op {} (known: {})", op, known.empty() ? "none" : known));
}

}  // namespace lockstep::device
