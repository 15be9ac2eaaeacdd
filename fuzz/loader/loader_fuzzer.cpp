// libFuzzer target over the whole input path of `lockstep run/replay`: an HDF5 file image ->
// h5::read_image (the loader, in process) -> from_record + check_known_fields -> validate() of every op's
// case type (whatever the file's @op says, so every validator sees every record). Built with clang
// (-fsanitize=fuzzer,address,undefined) by fuzz/loader/CMakeLists.txt; see README "Fuzzing the loader".
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

#include "core/attention/ragged_paged_attention.h"
#include "core/error.h"
#include "core/kvcache/kv_trace.h"
#include "core/kvcache/page_table_dump.h"
#include "core/kvcache/pool_sizing.h"
#include "core/metadata/nsa_metadata.h"
#include "core/metadata/segment_seqlens_offsets.h"
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
  // Every input starts from a fresh library, as each file does in lockstep's isolation child: a
  // corrupted file that libhdf5 could not close must not poison the inputs after it.
  H5close();
  if (d.kind.empty()) return 0;
  for (const Record* r : {&d.case_fields}) {
    load_and_validate<RpaCase>(*r);
    load_and_validate<KvTraceCase>(*r);
    load_and_validate<PageTableDumpCase>(*r);
    load_and_validate<PoolSizingCase>(*r);
    load_and_validate<SpecDecodeCase>(*r);
    load_and_validate<SegmentSeqlensCase>(*r);
    load_and_validate<NsaCase>(*r);
  }
  return 0;
}
