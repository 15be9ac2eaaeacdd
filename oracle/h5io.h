#pragma once
/// HDF5 case / dump / outputs files (layout: fixtures/SCHEMA.md).
///
/// One file holds an op name, the case fields (group /case), any number of named output records
/// (groups /outputs/<name>), free-form string attributes on the root, and an optional JSON report.
/// Records map onto HDF5 as: int64 -> scalar integer attribute, double -> scalar float attribute,
/// string -> string attribute, Tensor -> dataset with a `dtype` string attribute.
///
/// All HDF5 calls are serialised behind one process-wide mutex. Reading validates every shape, count
/// and string size against the limits below before allocating, and turns every failure into
/// lockstep::Error whose field is `<file>:<object path>` (e.g. `case.h5:/case/q`). HDF5 itself is not
/// hardened against deliberately corrupted files; these checks stop oversized allocations, not every
/// possible library fault.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/record.h"

namespace lockstep::h5 {

/// Value of the root attribute `lockstep_schema` written and accepted by this version.
inline constexpr int64_t kSchemaVersion = 1;

/// Read limits (a file beyond any of them is rejected with an Error, nothing is allocated for it).
inline constexpr int kMaxRank = 8;                           ///< dataset rank
inline constexpr int64_t kMaxDim = int64_t{1} << 31;         ///< any one dimension
inline constexpr int64_t kMaxElements = int64_t{1} << 30;    ///< elements per dataset
inline constexpr int64_t kMaxMembers = 4096;                 ///< attributes, or links, per object
inline constexpr size_t kMaxStringBytes = size_t{1} << 20;   ///< any string value
inline constexpr size_t kMaxNameBytes = 1024;                ///< attribute / link names
inline constexpr int64_t kMaxChunkBytes = int64_t{1} << 28;  ///< one chunk of a chunked dataset

/// Contents of one lockstep HDF5 file.
struct Dump {
  std::string kind;    ///< "case" (inputs only), "dump" (failure artefact), "outputs" (result of `lockstep run`)
  std::string op;      ///< e.g. "ragged_paged_attention"
  Record case_fields;  ///< group /case
  std::vector<std::pair<std::string, Record>> outputs;    ///< groups /outputs/<name> ("reference", "device")
  std::vector<std::pair<std::string, std::string>> info;  ///< string attributes on the root (case_string,
                                                          ///< repro_command, fault, backend, seed, ...)
  std::string report_json;                                ///< dataset /report_json; empty = absent
};

/// Writes `d` to `path` atomically: the file is written as `<path>.tmp.<pid>` in the same directory,
/// closed, then renamed over `path`. On any failure the temporary file is removed, `path` is left as it
/// was, and Error is thrown. Rejected before anything is written: a kind other than case/dump/outputs,
/// an empty op, invalid or duplicate names, info names that collide with lockstep_schema/kind/op,
/// strings over kMaxStringBytes or containing NUL, rank-0 tensors with an element (HDF5 scalar
/// datasets are not part of the schema), tensors beyond the read limits, and bool tensors holding
/// bytes other than 0/1. Default-constructed tensors (rank 0, no elements) are omitted: from_record()
/// then keeps the type's default, which is the same empty tensor.
void write_file(const std::string& path, const Dump& d);

/// Reads a file written by write_file() or by hand (h5py, fixtures/lockstep_h5.py). Fields come back in
/// HDF5 creation order when the group tracks it (write_file and lockstep_h5.py do), otherwise by name;
/// in each group the attribute fields come first, then the dataset fields. Throws Error naming
/// `<path>:<object>` for a missing or non-HDF5 file, a wrong schema version, unsupported types or
/// shapes, anything over the limits above, or any HDF5 failure.
Dump read_file(const std::string& path);

}  // namespace lockstep::h5
