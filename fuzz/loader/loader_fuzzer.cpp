// libFuzzer target over the whole input path of `lockstep run/replay`: an HDF5 file image ->
// h5::read_image (the loader, in process) -> from_record + check_known_fields -> validate() of every op's
// case type (whatever the file's @op says, so every validator sees every record). Built with clang
// (-fsanitize=fuzzer,address,undefined) by fuzz/loader/CMakeLists.txt; see README "Fuzzing the loader".
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <hdf5.h>

#include "core/activation/gelu_tanh_mul.h"
#include "core/attention/ragged_paged_attention.h"
#include "core/attention/rope.h"
#include "core/error.h"
#include "core/kvcache/kv_sharing.h"
#include "core/kvcache/kv_trace.h"
#include "core/kvcache/page_table_dump.h"
#include "core/kvcache/pool_sizing.h"
#include "core/metadata/nsa_metadata.h"
#include "core/metadata/segment_seqlens_offsets.h"
#include "core/moe/moe_routing.h"
#include "core/norm/qkv_rmsnorm.h"
#include "core/norm/rmsnorm.h"
#include "core/record.h"
#include "core/spec/spec_decode.h"
#include "oracle/h5io.h"

namespace {

using namespace lockstep;

template <class Case>
void load_and_validate(const Record& r) {
  Case c;
  try {
    from_record(r, c, "fuzz.h5:/case");
    check_known_fields(r, field_names(c), "fuzz.h5:/case");
    validate(c);
    (void)canonical_string("op", c);  // what a report prints for the case
  } catch (const Error&) {
  }
}

// Every registered op (cmake/ops.cmake's LOCKSTEP_OPS, as family/op) with its case type. A new op missing
// here fails twice: at configure time (fuzz/loader/check_ops.cmake, in the main build too, naming the op)
// and at compile time (the static_assert below, against LOCKSTEP_OPS passed by fuzz/loader/CMakeLists.txt).
#define LOCKSTEP_LOADER_FUZZ_OPS(OP)                       \
  OP("attention/ragged_paged_attention", RpaCase)          \
  OP("attention/rope", RopeCase)                           \
  OP("kvcache/kv_trace", KvTraceCase)                      \
  OP("kvcache/pool_sizing", PoolSizingCase)                \
  OP("kvcache/page_table", PageTableDumpCase)              \
  OP("kvcache/kv_sharing", KvSharingCase)                  \
  OP("spec/spec_decode", SpecDecodeCase)                   \
  OP("metadata/segment_seqlens_offsets", SegmentSeqlensCase) \
  OP("metadata/nsa_metadata", NsaCase)                     \
  OP("moe/moe_routing", MoeRoutingCase)                    \
  OP("norm/rmsnorm", RmsNormCase)                          \
  OP("norm/qkv_rmsnorm", QkvRmsNormCase)                   \
  OP("activation/gelu_tanh_mul", GeluTanhMulCase)

#define LOCKSTEP_OP_NAME(name, type) std::string_view(name),
constexpr std::array kFuzzedOps{LOCKSTEP_LOADER_FUZZ_OPS(LOCKSTEP_OP_NAME)};
#undef LOCKSTEP_OP_NAME

#ifndef LOCKSTEP_OPS_LIST
#error "LOCKSTEP_OPS_LIST (cmake/ops.cmake's LOCKSTEP_OPS, comma-separated) must be defined by fuzz/loader/CMakeLists.txt"
#endif
/// Whether the comma-separated `list` and kFuzzedOps hold the same ops (each entry of either in the other).
constexpr bool same_ops(std::string_view list) {
  size_t n = 0;
  while (!list.empty()) {
    const size_t end = list.find(',');
    const std::string_view op = list.substr(0, end);
    bool found = false;
    for (std::string_view f : kFuzzedOps) found = found || f == op;
    if (!found) return false;
    ++n;
    list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
  }
  return n == kFuzzedOps.size();
}
static_assert(same_ops(LOCKSTEP_OPS_LIST),
              "fuzz/loader/loader_fuzzer.cpp: LOCKSTEP_LOADER_FUZZ_OPS differs from cmake/ops.cmake's LOCKSTEP_OPS");

// The file kinds the ops register (this target links no op): a page-table dump is read like lockstep's.
const h5::RegisterFileKind kPageTableDumpKind({kPageTableDumpFileKind, "page_table"});

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small budgets (the fixture dumps need < 2^15 elements): the fuzzer looks for faults, not for the
  // time it takes to fill and convert the 2^26 elements a mutated shape may declare.
  h5::ReadLimits limits;
  limits.max_elements = int64_t{1} << 16;
  limits.max_bytes = int64_t{1} << 20;
  limits.max_members = 1024;
  // A fresh name per input: libhdf5 shares an open file by name, and a corrupted file it failed to
  // close completely must not become the next input's file.
  static uint64_t counter = 0;
  const std::string name = "fuzz-" + std::to_string(counter++) + ".h5";
  h5::Dump d;
  try {
    d = h5::read_image(data, size, name, limits);
  } catch (const Error&) {
  }
  // No input may see state of the one before, as no file does in lockstep's isolation child: a corrupted
  // file that libhdf5 could not close completely must not poison the inputs after it. What could carry
  // over is an object still open (H5F_CLOSE_STRONG closes a file's objects with it; the name is fresh per
  // input): when any is left, the library is restarted (H5close), as it used to be after every input.
  // Restarting every time cost ~2/3 of an execution (BENCHMARKS.md, "Loader libFuzzer").
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) H5close();
  if (d.kind.empty()) return 0;
#define LOCKSTEP_LOAD_AND_VALIDATE(name, type) load_and_validate<type>(d.case_fields);
  LOCKSTEP_LOADER_FUZZ_OPS(LOCKSTEP_LOAD_AND_VALIDATE)
#undef LOCKSTEP_LOAD_AND_VALIDATE
  return 0;
}
