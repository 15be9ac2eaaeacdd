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
/// hardened against deliberately corrupted files (libhdf5 1.10 crashes or loops on some single-bit
/// corruptions): read_file() therefore parses in a child process with memory and CPU limits by default,
/// so that a crash or hang inside the library becomes one Error naming the file.
///
/// Only what the user named is read: external links, external raw-data storage, virtual datasets and
/// any storage layout other than contiguous / chunked / compact are rejected, HDF5 filter plugins are
/// never loaded, and the input must be a regular file (a FIFO or device is refused before opening).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/record.h"

namespace lockstep::h5 {

/// A file kind beyond the built-in ones (`case`, `dump`, `outputs`), declared by the op that owns it: a file
/// of kind `name` holds a /case of op `op`, and `lockstep run` / `replay` load it as they load a case file
/// (e.g. `page_table_dump`, the serving-side trap's file: oracle/kvcache/page_table.cpp).
struct FileKind {
  std::string name;
  std::string op;
};

/// Registers an op's file kind: at static initialisation (RegisterFileKind), before any thread or read
/// starts (the list is read without locking, also in read_file()'s forked child). Registering the same
/// kind again is a no-op; Error for a built-in name, an empty name or op, or a name taken by another op.
void register_file_kind(const FileKind& kind);
struct RegisterFileKind {
  explicit RegisterFileKind(const FileKind& kind) { register_file_kind(kind); }
};
/// The registered kinds, in registration order.
const std::vector<FileKind>& file_kinds();
/// The registered kind called `name` (nullptr for a built-in or unknown one).
const FileKind* find_file_kind(const std::string& name);
/// Every kind read_file() and write_file() accept: case, dump, outputs, then the registered ones.
std::vector<std::string> known_kinds();

/// Value of the root attribute `lockstep_schema` written and accepted by this version.
inline constexpr int64_t kSchemaVersion = 1;

/// Read limits (a file beyond any of them is rejected with an Error, nothing is allocated for it).
inline constexpr int kMaxRank = 8;                           ///< dataset rank
inline constexpr int64_t kMaxDim = int64_t{1} << 31;         ///< any one dimension
inline constexpr int64_t kMaxElements = int64_t{1} << 30;    ///< elements per dataset
inline constexpr int64_t kMaxMembers = 4096;                 ///< attributes, or links, per object
inline constexpr size_t kMaxStringBytes = size_t{1} << 20;   ///< any string value
inline constexpr size_t kMaxNameBytes = 1024;                ///< attribute / link names
inline constexpr int64_t kMaxChunkBytes = int64_t{1} << 26;  ///< one chunk of a chunked dataset

/// Budget of one file, summed over everything in it (checked before each allocation; see
/// fixtures/SCHEMA.md "Limits"). The defaults keep a hostile file's reader under ~1 GiB of memory;
/// `lockstep run/replay --max-input-elements/--max-input-bytes` raise them for large real dumps.
inline constexpr int64_t kDefaultMaxFileElements = int64_t{1} << 26;  ///< tensor elements, all datasets
inline constexpr int64_t kDefaultMaxFileBytes = int64_t{1} << 29;     ///< bytes (see ReadLimits::max_bytes)
inline constexpr int64_t kDefaultMaxFileMembers = int64_t{1} << 16;   ///< attributes + links, all objects

struct ReadLimits {
  int64_t max_elements = kDefaultMaxFileElements;
  /// Decompressed dataset bytes (what HDF5 inflates) plus the bytes lockstep allocates to hold and
  /// convert them, plus string bytes, summed over the file.
  int64_t max_bytes = kDefaultMaxFileBytes;
  int64_t max_members = kDefaultMaxFileMembers;
};

/// Isolation of read_file(): the parse runs in a forked child whose address space (RLIMIT_AS; not set in
/// sanitizer builds) and CPU time are limited and which is killed after `timeout_s` of wall time.
struct ReadOptions {
  ReadLimits limits;
  bool isolate = true;
  double timeout_s = 5;                        ///< wall and CPU limit of the child
  const std::atomic<bool>* interrupted = nullptr;  ///< polled while waiting: set -> kill child, throw Interrupted
};

/// Thrown by read_file() when `ReadOptions::interrupted` was set while the child was parsing.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

/// Contents of one lockstep HDF5 file.
struct Dump {
  std::string kind;    ///< "case" (inputs only), "dump" (failure artefact), "outputs" (result of `lockstep run`),
                       ///< or a registered op's kind (register_file_kind)
  std::string op;      ///< e.g. "ragged_paged_attention"
  Record case_fields;  ///< group /case
  std::vector<std::pair<std::string, Record>> outputs;    ///< groups /outputs/<name> ("reference", "device")
  std::vector<std::pair<std::string, std::string>> info;  ///< string attributes on the root (case_string,
                                                          ///< repro_command, fault, backend, seed, ...)
  std::string report_json;                                ///< dataset /report_json; empty = absent
};

/// Writes `d` to `path` atomically: the file is written as `<path>.tmp.<pid>` in the same directory,
/// closed, then renamed over `path`. On any failure the temporary file is removed, `path` is left as it
/// was, and Error is thrown. Rejected before anything is written: a kind other than case/dump/outputs
/// and the registered ones (register_file_kind),
/// an empty op, invalid or duplicate names, info names that collide with lockstep_schema/kind/op,
/// strings over kMaxStringBytes or containing NUL, rank-0 tensors with an element (HDF5 scalar
/// datasets are not part of the schema), tensors beyond the read limits, and bool tensors holding
/// bytes other than 0/1. Default-constructed tensors (rank 0, no elements) are omitted: from_record()
/// then keeps the type's default, which is the same empty tensor.
void write_file(const std::string& path, const Dump& d);

/// The bytes of the file write_file() would write for `d` (an HDF5 file image, built in memory: nothing is
/// written to disk); `name` stands for the file in error messages. Same checks and Errors as write_file().
std::string write_image(const Dump& d, const std::string& name);

/// Removes the temporary file a write_file() in progress is writing, if any. Async-signal-safe: for a
/// handler about to end the process (lockstep's second SIGINT/SIGTERM), so no `*.tmp.<pid>` is left.
void remove_temporary_file_now() noexcept;

/// Checks, without creating anything, that files can be written into directory `dir`: it exists and is
/// a writable directory, or it does not exist yet and its nearest existing ancestor is one. Throws
/// Error naming `dir` otherwise (a regular file, /dev/null, a read-only directory).
void check_writable_dir(const std::string& dir);

/// Reads a file written by write_file() or by hand (h5py, fixtures/lockstep_h5.py). Fields come back in
/// HDF5 creation order when the group tracks it (write_file and lockstep_h5.py do), otherwise by name;
/// in each group the attribute fields come first, then the dataset fields. Throws Error naming
/// `<path>:<object>` for a missing, non-regular or non-HDF5 file, a wrong schema version, unsupported
/// types, shapes or storage, anything over the limits above, running out of memory, or any HDF5
/// failure; with isolation also for a crash or timeout of the parsing child (`<path>: corrupt HDF5 file
/// (the HDF5 library crashed/timed out reading it...)`).
Dump read_file(const std::string& path, const ReadOptions& options = {});

/// Parses an in-memory HDF5 file image in this process (no isolation; the libFuzzer target's entry).
/// `name` stands for the file in error messages.
Dump read_image(const void* data, size_t size, const std::string& name, const ReadLimits& limits = {});

}  // namespace lockstep::h5
