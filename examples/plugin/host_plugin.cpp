// Example lockstep plugin (include/lockstep/impl.h): lockstep's own device kernels, run on the CPU launcher,
// behind the C ABI, in host memory. Generic over the ops: a case is rebuilt from the named arguments through
// its fields() and the outputs are written back the same way, so supporting an op is one table row.
//
// Variants (compile definitions; examples/plugin/CMakeLists.txt builds each):
//   LOCKSTEP_EXAMPLE_FAULT       every op runs with the first named fault of its kernel (a plugin with a bug)
//   LOCKSTEP_EXAMPLE_F32_ONLY    declares rmsnorm only, capability dtype in {f32}
//   LOCKSTEP_EXAMPLE_RPA_NARROW  declares ragged_paged_attention only: dtype f32, mode causal, head_dim 128
// A variant with capabilities fails any case outside its declared enum/integer value lists.
//   LOCKSTEP_EXAMPLE_IMPOSSIBLE  declares rope with head_dim in {7}, which the generator never produces
//   LOCKSTEP_EXAMPLE_ABI         the ABI version it reports (default LOCKSTEP_IMPL_ABI_VERSION)
//   LOCKSTEP_EXAMPLE_WRITES_INPUT  flips a byte of the first non-empty input tensor after each run
//   LOCKSTEP_EXAMPLE_CUDA        tensors in CUDA device memory (built when nvcc exists; runs with a GPU)
//   LOCKSTEP_EXAMPLE_STALE_READ  declares ragged_paged_attention only, with a read of a stale page (a bug
//                                lockstep must report as an out-of-bounds read: oracle/impl_poison.h)
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "core/fields.h"
#include "device/activation/gelu_tanh_mul.h"
#include "device/activation/gelu_tanh_mul_kernel.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/attention/ragged_paged_attention_kernel.h"
#include "device/attention/rope.h"
#include "device/attention/rope_kernel.h"
#include "device/core/faults.h"
#include "device/kvcache/kv_sharing.h"
#include "device/kvcache/kv_sharing_kernel.h"
#include "device/kvcache/page_table.h"
#include "device/kvcache/page_table_kernel.h"
#include "device/kvcache/pool_sizing.h"
#include "device/metadata/nsa_metadata.h"
#include "device/metadata/nsa_metadata_kernel.h"
#include "device/metadata/segment_seqlens_offsets.h"
#include "device/metadata/segment_seqlens_offsets_kernel.h"
#include "device/moe/moe_routing.h"
#include "device/moe/moe_routing_kernel.h"
#include "device/norm/qkv_rmsnorm.h"
#include "device/norm/qkv_rmsnorm_kernel.h"
#include "device/norm/rmsnorm.h"
#include "device/norm/rmsnorm_kernel.h"
#include "lockstep/impl.h"

#ifdef LOCKSTEP_EXAMPLE_CUDA
#include <cuda_runtime.h>
#endif

#ifndef LOCKSTEP_EXAMPLE_ABI
#define LOCKSTEP_EXAMPLE_ABI LOCKSTEP_IMPL_ABI_VERSION
#endif

namespace {
using namespace lockstep;

// Tensor data lives in host memory, or (LOCKSTEP_EXAMPLE_CUDA) in CUDA device memory: the kernels still run
// on the CPU, behind a download and an upload — a CUDA-memory plugin exercising lockstep's CUDA buffers.
#ifdef LOCKSTEP_EXAMPLE_CUDA
constexpr int32_t kMemory = LOCKSTEP_MEMORY_CUDA;
void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
void to_host(void* dst, const void* src, size_t n) { check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "cudaMemcpy D2H"); }
void from_host(void* dst, const void* src, size_t n) { check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "cudaMemcpy H2D"); }
#else
constexpr int32_t kMemory = LOCKSTEP_MEMORY_HOST;
void to_host(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }
void from_host(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }
#endif

/// Fills a case's fields from the input arguments of the same names.
struct FromArgs {
  const lockstep_args* in;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&...) {
    const lockstep_arg* a = lockstep_find(in, name);
    require(a != nullptr, name, "", "missing input argument");
    if constexpr (std::is_same_v<F, Tensor>) {
      require(a->kind == LOCKSTEP_TENSOR, name, "", "not a tensor argument");
      if (a->rank == 0 && a->numel == 0) {  // the case leaves it empty
        f = Tensor();
        return;
      }
      f = Tensor(static_cast<DType>(a->dtype), Shape(a->shape, a->shape + a->rank));
      if (f.nbytes() > 0) to_host(f.raw(), a->data, f.nbytes());
    } else if constexpr (std::is_enum_v<F>) {
      require(a->kind == LOCKSTEP_STRING, name, "", "not a string argument");
      f = parse_enum<F>(static_cast<const char*>(a->data), name);
    } else if constexpr (std::is_same_v<F, std::string>) {
      f = static_cast<const char*>(a->data);
    } else if constexpr (std::is_same_v<F, double>) {
      f = *static_cast<const double*>(a->data);
    } else {
      f = static_cast<F>(*static_cast<const int64_t*>(a->data));
    }
  }
};

/// Writes the computed outputs into the output arguments lockstep allocated (those it asked for).
struct ToArgs {
  lockstep_args* out;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&...) {
    lockstep_arg* a = lockstep_find(out, name);
    if (a == nullptr) return;  // not asked for (info, oob logs, strings)
    if constexpr (std::is_same_v<F, Tensor>) {
      require(a->dtype == static_cast<int32_t>(f.dtype()) && a->numel == f.numel(), name, f.describe(),
              "differs from the output lockstep allocated");
      if (f.nbytes() > 0) from_host(a->data, f.raw(), f.nbytes());
    } else if constexpr (std::is_same_v<F, double>) {
      *static_cast<double*>(a->data) = f;
    } else if constexpr (std::is_integral_v<F>) {
      *static_cast<int64_t*>(a->data) = static_cast<int64_t>(f);
    }
  }
};

using RunFn = void (*)(const lockstep_args*, lockstep_args*);

template <class Case, class Outputs, Outputs (*Device)(const Case&, const device::Options&),
          const auto& Faults>
void run_op(const lockstep_args* in, lockstep_args* out) {
  Case c;
  FromArgs from{in};
  c.fields(from);
  device::Options opt;  // the CPU launcher
#ifdef LOCKSTEP_EXAMPLE_FAULT
  opt.fault = std::span<const device::Fault>(Faults).front().id;
#endif
  Outputs o = Device(c, opt);
  ToArgs to{out};
  o.fields(to);
}

#ifdef LOCKSTEP_EXAMPLE_STALE_READ
// The bug: a tile loader that also fetches the page of the entry after each sequence's last valid one (the
// entry "one past kv_len": stale, or the next sequence's first) and masks it out by multiplying with a zero
// weight. Harmless while that page holds finite numbers — so without poisoning it passes — but a read of
// memory the kernel must not touch. It stays inside the cache buffer (an out-of-range entry is skipped).
void run_rpa_stale_read(const lockstep_args* in, lockstep_args* out) {
  RpaCase c;
  FromArgs from{in};
  c.fields(from);
  RpaOutputs o = device::ragged_paged_attention(c, device::Options{});
  const int64_t P = c.kv_cache.dim(0), Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  for (int64_t i = 0; i < c.num_seqs; ++i) {
    if (c.q_len(i) == 0) continue;
    const int64_t first = (c.cu_kv_lens.get_int(i) + c.page_size - 1) / c.page_size;
    const int64_t slot = first + (c.kv_len(i) + c.page_size - 1) / c.page_size;  // one past the last valid entry
    if (slot >= c.page_indices.numel()) continue;
    const int64_t page = c.page_indices.get_int(slot);
    if (page < 0 || page >= P) continue;
    const double key = c.kv_cache.get(page * c.page_size * 2 * Hkv * D);  // the page's first key, head 0, d 0
    const int64_t e = c.cu_q_lens.get_int(i) * Hq * D;                   // the sequence's first query row
    o.out.set(e, o.out.get(e) + 0.0 * key);
  }
  ToArgs to{out};
  o.fields(to);
}
#endif

struct Row {
  const char* op;
  RunFn run;
};
// One row per op.
constexpr Row kRows[] = {
    {"segment_seqlens_offsets", run_op<SegmentSeqlensCase, SegmentSeqlensOutputs, device::segment_seqlens_offsets,
                                       device::kSegmentFaults>},
    {"nsa_metadata", run_op<NsaCase, NsaOutputs, device::nsa_metadata, device::kNsaFaults>},
    {"moe_routing", run_op<MoeRoutingCase, MoeRoutingOutputs, device::moe_routing, device::kMoeRoutingFaults>},
    {"rmsnorm", run_op<RmsNormCase, RmsNormOutputs, device::rmsnorm, device::kRmsNormFaults>},
    {"qkv_rmsnorm", run_op<QkvRmsNormCase, QkvRmsNormOutputs, device::qkv_rmsnorm, device::kQkvNormFaults>},
    {"gelu_tanh_mul", run_op<GeluTanhMulCase, GeluTanhMulOutputs, device::gelu_tanh_mul, device::kGeluFaults>},
    {"rope", run_op<RopeCase, RopeOutputs, device::rope, device::kRopeFaults>},
#ifdef LOCKSTEP_EXAMPLE_STALE_READ
    {"ragged_paged_attention", run_rpa_stale_read},
#else
    {"ragged_paged_attention",
     run_op<RpaCase, RpaOutputs, device::ragged_paged_attention, device::kRpaFaults>},
#endif
    {"kv_sharing", run_op<KvSharingCase, KvSharingOutputs, device::kv_sharing, device::kKvSharingFaults>},
    {"page_table", run_op<PageTableDumpCase, PageTableDumpOutputs, device::page_table, device::kPageTableFaults>},
    {"pool_sizing", run_op<PoolSizingCase, PoolSizingOutputs, device::pool_sizing, device::kPoolSizingFaults>},
};

#if defined(LOCKSTEP_EXAMPLE_F32_ONLY)
constexpr lockstep_capability kF32[] = {{"dtype", "f32", LOCKSTEP_ANY_RANGE}};
constexpr lockstep_op_support kOps[] = {{"rmsnorm", kF32, 1}};
#elif defined(LOCKSTEP_EXAMPLE_RPA_NARROW)
// The example: "an implementation that supports only causal f32 head_dim 128".
constexpr lockstep_capability kNarrow[] = {{"dtype", "f32", LOCKSTEP_ANY_RANGE},
                                           {"mode", "causal", LOCKSTEP_ANY_RANGE},
                                           {"head_dim", "128", LOCKSTEP_ANY_RANGE}};
constexpr lockstep_op_support kOps[] = {{"ragged_paged_attention", kNarrow, 3}};
#elif defined(LOCKSTEP_EXAMPLE_STALE_READ)
constexpr lockstep_op_support kOps[] = {{"ragged_paged_attention", nullptr, 0}};
#elif defined(LOCKSTEP_EXAMPLE_IMPOSSIBLE)
constexpr lockstep_capability kHead7[] = {{"head_dim", "7", LOCKSTEP_ANY_RANGE}};
constexpr lockstep_op_support kOps[] = {{"rope", kHead7, 1}};
#else
constexpr lockstep_op_support kOps[] = {
    {"segment_seqlens_offsets", nullptr, 0}, {"nsa_metadata", nullptr, 0}, {"moe_routing", nullptr, 0},
    {"rmsnorm", nullptr, 0},      {"qkv_rmsnorm", nullptr, 0},      {"gelu_tanh_mul", nullptr, 0},
    {"rope", nullptr, 0},         {"ragged_paged_attention", nullptr, 0}, {"kv_sharing", nullptr, 0},
    {"page_table", nullptr, 0},   {"pool_sizing", nullptr, 0}};
#endif

#if defined(LOCKSTEP_EXAMPLE_F32_ONLY) && defined(LOCKSTEP_EXAMPLE_FAULT)
constexpr const char* kName = "lockstep-example-f32-only-faulty";
#elif defined(LOCKSTEP_EXAMPLE_F32_ONLY)
constexpr const char* kName = "lockstep-example-f32-only";
#elif defined(LOCKSTEP_EXAMPLE_IMPOSSIBLE)
constexpr const char* kName = "lockstep-example-impossible";
#elif defined(LOCKSTEP_EXAMPLE_STALE_READ)
constexpr const char* kName = "lockstep-example-rpa-stale-read";
#elif defined(LOCKSTEP_EXAMPLE_RPA_NARROW)
constexpr const char* kName = "lockstep-example-rpa-causal-f32-d128";
#elif defined(LOCKSTEP_EXAMPLE_CUDA)
constexpr const char* kName = "lockstep-example-cuda-memory";
#elif defined(LOCKSTEP_EXAMPLE_WRITES_INPUT)
constexpr const char* kName = "lockstep-example-writes-input";
#elif defined(LOCKSTEP_EXAMPLE_FAULT)
constexpr const char* kName = "lockstep-example-host-faulty";
#else
constexpr const char* kName = "lockstep-example-host";
#endif
constexpr lockstep_impl_desc kDesc = {LOCKSTEP_EXAMPLE_ABI, kName, kMemory, kOps,
                                      static_cast<int32_t>(sizeof kOps / sizeof kOps[0])};

/// The first enum or integer argument outside this plugin's own declared value lists ("dtype bf16"), or
/// NULL: a restricted variant fails any case it did not declare.
const char* outside_capabilities(const char* op, const lockstep_args* in) {
  static thread_local std::string text;
  for (const lockstep_op_support& s : kOps) {
    if (std::strcmp(s.op, op) != 0) continue;
    for (int32_t k = 0; k < s.num_caps; ++k) {
      const lockstep_arg* a = lockstep_find(in, s.caps[k].field);
      if (a == nullptr || a->kind == LOCKSTEP_TENSOR || s.caps[k].values == nullptr) continue;
      const std::string value = a->kind == LOCKSTEP_STRING ? static_cast<const char*>(a->data)
                                                           : std::to_string(*static_cast<const int64_t*>(a->data));
      const std::string list = std::string(",") + s.caps[k].values + ",";
      if (list.find("," + value + ",") == std::string::npos) {
        text = std::string(s.caps[k].field) + " " + value;
        return text.c_str();
      }
    }
  }
  return nullptr;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const lockstep_impl_desc* lockstep_impl_info(void) {
  return &kDesc;
}

extern "C" __attribute__((visibility("default"))) int lockstep_impl_run(const char* op, const lockstep_args* in,
                                                                        lockstep_args* out, char* err, size_t errlen) {
  try {
    if (const char* outside = outside_capabilities(op, in)) {  // proves the capabilities reached generation
      std::snprintf(err, errlen, "received %s outside the declared capability", outside);
      return 1;
    }
    for (const Row& r : kRows) {
      if (std::strcmp(r.op, op) == 0) {
        r.run(in, out);
#ifdef LOCKSTEP_EXAMPLE_WRITES_INPUT
        for (int32_t i = 0; i < in->count; ++i)  // a bug lockstep must catch: the first non-empty input changed
          if (in->args[i].kind == LOCKSTEP_TENSOR && in->args[i].numel > 0) {
            static_cast<unsigned char*>(in->args[i].data)[0] ^= 0xff;
            break;
          }
#endif
        return 0;
      }
    }
    std::snprintf(err, errlen, "op %s is not implemented by %s", op, kName);
    return 1;
  } catch (const std::exception& e) {  // a case the kernel rejects: reported by lockstep, never a crash
    std::snprintf(err, errlen, "%s", e.what());
    return 1;
  }
}
