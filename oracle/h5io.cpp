#include "oracle/h5io.h"

#include <unistd.h>

#include <H5PLpublic.h>
#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "core/error.h"
#include "oracle/h5io_isolate.h"

namespace lockstep::h5 {
namespace {

// ---------------------------------------------------------------------------------------------------
// Plumbing: one mutex, RAII identifiers, HDF5 error text.
// ---------------------------------------------------------------------------------------------------

/// HDF5 serial builds are not thread-safe: every call in this file runs under this lock.
std::mutex& hdf5_mutex() { return hdf5_io_mutex(); }

/// Turns off HDF5's automatic error printing for the calling thread (the error stack is per thread in
/// thread-safe builds, so this runs on every entry point).
void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

/// Collects the innermost (most specific) message of the current HDF5 error stack.
herr_t collect_innermost(unsigned n, const H5E_error2_t* err, void* client) {
  if (n != 0 || err == nullptr || err->desc == nullptr) return 0;
  try {
    *static_cast<std::string*>(client) = err->desc;
  } catch (...) {
    return -1;  // out of memory while formatting an error: the message is optional
  }
  return 0;
}

/// " (HDF5: <innermost message>)" for the current error stack, or "" when it is empty; clears it.
std::string hdf5_detail() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_innermost, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? std::string() : " (HDF5: " + msg + ")";
}

[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw Error(field, "", what + hdf5_detail());
}

void check(herr_t rc, const std::string& field, const std::string& what) {
  if (rc < 0) fail(field, what);
}

/// Owns one HDF5 identifier and closes it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  /// Gives up ownership (for closes whose result must be checked).
  hid_t release() {
    hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }

 private:
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

/// Wraps `id` (failing with `what` when it is negative).
Handle own(hid_t id, Handle::Closer close, const std::string& field, const std::string& what) {
  if (id < 0) fail(field, what);
  return Handle(id, close);
}

Handle own_type(hid_t id, const std::string& field) { return own(id, H5Tclose, field, "cannot get datatype"); }
Handle own_space(hid_t id, const std::string& field) { return own(id, H5Sclose, field, "cannot get dataspace"); }
Handle own_plist(hid_t id, const std::string& field) { return own(id, H5Pclose, field, "cannot create property list"); }

constexpr std::string_view kReservedRootAttrs[] = {"lockstep_schema", "kind", "op"};

bool is_reserved_root_attr(std::string_view name) {
  return std::find(std::begin(kReservedRootAttrs), std::end(kReservedRootAttrs), name) != std::end(kReservedRootAttrs);
}

constexpr std::string_view kBuiltinKinds[] = {"case", "dump", "outputs"};

std::vector<FileKind>& registered_kinds() {
  static std::vector<FileKind> kinds;
  return kinds;
}

bool is_valid_kind(const std::string& kind) {
  return std::find(std::begin(kBuiltinKinds), std::end(kBuiltinKinds), kind) != std::end(kBuiltinKinds) ||
         find_file_kind(kind) != nullptr;
}

/// "kind must be one of: case, dump, outputs[, registered...]"
std::string kind_rule() {
  std::string rule = "kind must be one of: ";
  const std::vector<std::string> kinds = known_kinds();
  for (size_t i = 0; i < kinds.size(); ++i) rule += (i ? ", " : "") + kinds[i];
  return rule;
}

/// Variable-length UTF-8 string type (what h5py writes for `attrs['x'] = 'str'`).
Handle vlen_string_type(const std::string& field) {
  Handle t = own(H5Tcopy(H5T_C_S1), H5Tclose, field, "cannot create string type");
  check(H5Tset_size(t.get(), H5T_VARIABLE), field, "cannot create string type");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), field, "cannot create string type");
  return t;
}

/// Group / file creation property list that tracks and indexes link and attribute creation order.
void track_creation_order(hid_t plist, const std::string& field) {
  check(H5Pset_link_creation_order(plist, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), field,
        "cannot set link creation order");
  check(H5Pset_attr_creation_order(plist, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), field,
        "cannot set attribute creation order");
}

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

/// Rejects names HDF5 cannot store as a link/attribute name or that would not read back.
void check_name(const std::string& name, const std::string& field) {
  require(!name.empty(), field, "\"\"", "name must not be empty");
  require(name.size() <= kMaxNameBytes, field, name.size(), fmt::format("name longer than {} bytes", kMaxNameBytes));
  require(name.find('/') == std::string::npos && name != "." && name.find('\0') == std::string::npos, field, name,
          "name must not contain '/' or NUL and must not be \".\"");
}

void check_string_value(const std::string& s, const std::string& field) {
  require(s.size() <= kMaxStringBytes, field, fmt::format("{} bytes", s.size()),
          fmt::format("string longer than {} bytes", kMaxStringBytes));
  require(s.find('\0') == std::string::npos, field, fmt::format("{} bytes", s.size()),
          "string must not contain NUL bytes");
}

/// True for a default-constructed Tensor, which write_file omits.
bool is_absent_tensor(const Tensor& t) { return t.rank() == 0 && t.numel() == 0; }

void check_tensor_for_write(const Tensor& t, const std::string& field) {
  if (is_absent_tensor(t)) return;
  require(t.rank() >= 1, field, t.describe(), "rank-0 tensors cannot be stored (store scalars as int/double fields)");
  require(t.rank() <= static_cast<size_t>(kMaxRank), field, t.describe(), fmt::format("rank above {}", kMaxRank));
  for (size_t i = 0; i < t.rank(); ++i) {
    require(t.dim(i) <= kMaxDim, field, t.describe(), "dimension above 2^31");
  }
  require(t.numel() <= kMaxElements, field, t.describe(), "more than 2^30 elements");
  if (t.dtype() == DType::boolean) {
    auto v = t.span<uint8_t>();
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] > 1) require(false, fmt::format("{}[{}]", field, i), static_cast<int>(v[i]), "bool tensor byte must be 0 or 1");
    }
  }
}

void check_record_for_write(const Record& r, const std::string& obj) {
  std::set<std::string> seen;
  for (const auto& [name, value] : r.fields) {
    const std::string field = obj + "/" + name;
    check_name(name, field);
    require(seen.insert(name).second, field, name, "duplicate field name");
    if (auto* s = std::get_if<std::string>(&value)) check_string_value(*s, field);
    if (auto* t = std::get_if<Tensor>(&value)) check_tensor_for_write(*t, field);
  }
}

/// Validates the whole dump before any file is touched.
void check_dump_for_write(const std::string& path, const Dump& d) {
  const std::string f = path + ":";
  require(is_valid_kind(d.kind), f + "/kind", d.kind.empty() ? "\"\"" : d.kind, kind_rule());
  require(!d.op.empty(), f + "/op", "\"\"", "op must not be empty");
  check_string_value(d.op, f + "/op");
  std::set<std::string> seen;
  for (const auto& [name, value] : d.info) {
    const std::string field = f + "/" + name;
    check_name(name, field);
    require(!is_reserved_root_attr(name), field, name, "info name is reserved (lockstep_schema, kind, op)");
    require(seen.insert(name).second, field, name, "duplicate info name");
    check_string_value(value, field);
  }
  check_record_for_write(d.case_fields, f + "/case");
  seen.clear();
  for (const auto& [name, rec] : d.outputs) {
    const std::string field = f + "/outputs/" + name;
    check_name(name, field);
    require(seen.insert(name).second, field, name, "duplicate output name");
    check_record_for_write(rec, field);
  }
  check_string_value(d.report_json, f + "/report_json");
}

Handle scalar_space(const std::string& field) {
  return own(H5Screate(H5S_SCALAR), H5Sclose, field, "cannot create dataspace");
}

void write_scalar_attr(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type, const void* value,
                       const std::string& field) {
  Handle space = scalar_space(field);
  Handle attr = own(H5Acreate2(obj, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, field,
                    "cannot create attribute");
  check(H5Awrite(attr.get(), mem_type, value), field, "cannot write attribute");
  check(H5Aclose(attr.release()), field, "cannot close attribute");
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value, const std::string& field) {
  Handle type = vlen_string_type(field);
  const char* p = value.c_str();
  write_scalar_attr(obj, name, type.get(), type.get(), &p, field);
}

void write_int_attr(hid_t obj, const std::string& name, int64_t value, const std::string& field) {
  write_scalar_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, field);
}

void write_double_attr(hid_t obj, const std::string& name, double value, const std::string& field) {
  write_scalar_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, field);
}

/// File and memory HDF5 types of a lockstep dtype.
std::pair<hid_t, hid_t> hdf5_types(DType dt) {
  switch (dt) {
    case DType::f32: return {H5T_IEEE_F32LE, H5T_NATIVE_FLOAT};
    case DType::bf16:
    case DType::f16: return {H5T_STD_U16LE, H5T_NATIVE_UINT16};
    case DType::i32: return {H5T_STD_I32LE, H5T_NATIVE_INT32};
    case DType::i64: return {H5T_STD_I64LE, H5T_NATIVE_INT64};
    case DType::boolean: return {H5T_STD_U8LE, H5T_NATIVE_UINT8};
  }
  return {H5T_NATIVE_UINT8, H5T_NATIVE_UINT8};
}

void write_tensor(hid_t group, const std::string& name, const Tensor& t, const std::string& field) {
  hsize_t dims[kMaxRank];
  for (size_t i = 0; i < t.rank(); ++i) dims[i] = static_cast<hsize_t>(t.dim(i));
  Handle space =
      own(H5Screate_simple(static_cast<int>(t.rank()), dims, nullptr), H5Sclose, field, "cannot create dataspace");
  auto [file_type, mem_type] = hdf5_types(t.dtype());
  Handle dset = own(H5Dcreate2(group, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    H5Dclose, field, "cannot create dataset");
  if (t.numel() > 0) {
    check(H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()), field, "cannot write dataset");
  }
  write_string_attr(dset.get(), "dtype", dtype_name(t.dtype()), field + "@dtype");
  check(H5Dclose(dset.release()), field, "cannot close dataset");
}

void write_record(hid_t group, const Record& r, const std::string& obj) {
  for (const auto& [name, value] : r.fields) {
    const std::string field = obj + "/" + name;
    if (auto* i = std::get_if<int64_t>(&value)) {
      write_int_attr(group, name, *i, field);
    } else if (auto* d = std::get_if<double>(&value)) {
      write_double_attr(group, name, *d, field);
    } else if (auto* s = std::get_if<std::string>(&value)) {
      write_string_attr(group, name, *s, field);
    } else if (auto* t = std::get_if<Tensor>(&value); t != nullptr && !is_absent_tensor(*t)) {
      write_tensor(group, name, *t, field);
    }
  }
}

Handle create_group(hid_t parent, const std::string& name, const std::string& field) {
  Handle gcpl = own_plist(H5Pcreate(H5P_GROUP_CREATE), field);
  track_creation_order(gcpl.get(), field);
  return own(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose, field,
             "cannot create group");
}

void write_string_dataset(hid_t parent, const std::string& name, const std::string& value, const std::string& field) {
  Handle type = vlen_string_type(field);
  Handle space = scalar_space(field);
  Handle dset = own(H5Dcreate2(parent, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    H5Dclose, field, "cannot create dataset");
  const char* p = value.c_str();
  check(H5Dwrite(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), field, "cannot write dataset");
  check(H5Dclose(dset.release()), field, "cannot close dataset");
}

/// The temporary file write_file() is writing (for remove_temporary_file_now(), called from a signal
/// handler: a fixed buffer and a sig_atomic_t flag, set and cleared under hdf5_mutex()).
char g_temporary[4096];
volatile std::sig_atomic_t g_temporary_set = 0;

class TemporaryFileScope {
 public:
  explicit TemporaryFileScope(const std::string& tmp) {
    if (tmp.size() >= sizeof g_temporary) return;
    std::memcpy(g_temporary, tmp.c_str(), tmp.size() + 1);
    g_temporary_set = 1;
  }
  ~TemporaryFileScope() { g_temporary_set = 0; }
  TemporaryFileScope(const TemporaryFileScope&) = delete;
  TemporaryFileScope& operator=(const TemporaryFileScope&) = delete;
};

/// Writes the whole file at `tmp`; `path` names objects in error messages.
void write_hdf5(const std::string& tmp, const std::string& path, const Dump& d) {
  const std::string f = path + ":";
  Handle fcpl = own_plist(H5Pcreate(H5P_FILE_CREATE), path);
  track_creation_order(fcpl.get(), path);
  Handle fapl = own_plist(H5Pcreate(H5P_FILE_ACCESS), path);
  // The 1.8 object-header format: dense attribute storage (attributes over 64 KiB) and creation-order
  // indexes, readable by every HDF5 since 1.8 (h5py included).
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18), path, "cannot set file format");
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), path, "cannot set close degree");
  Handle file =
      own(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose, path, "cannot create file " + tmp);
  {
    Handle root = own(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose, f + "/", "cannot open root group");
    write_int_attr(root.get(), "lockstep_schema", kSchemaVersion, f + "/lockstep_schema");
    write_string_attr(root.get(), "kind", d.kind, f + "/kind");
    write_string_attr(root.get(), "op", d.op, f + "/op");
    for (const auto& [name, value] : d.info) write_string_attr(root.get(), name, value, f + "/" + name);

    Handle case_group = create_group(root.get(), "case", f + "/case");
    write_record(case_group.get(), d.case_fields, f + "/case");
    if (!d.outputs.empty()) {
      Handle outputs = create_group(root.get(), "outputs", f + "/outputs");
      for (const auto& [name, rec] : d.outputs) {
        const std::string obj = f + "/outputs/" + name;
        Handle g = create_group(outputs.get(), name, obj);
        write_record(g.get(), rec, obj);
      }
    }
    if (!d.report_json.empty()) write_string_dataset(root.get(), "report_json", d.report_json, f + "/report_json");
  }
  check(H5Fclose(file.release()), path, "cannot close (flush) file " + tmp);
}

// ---------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------

/// What one file may still use (ReadLimits), charged before each allocation. One read at a time runs
/// under hdf5_mutex() (or alone in the isolation child), so a single active budget suffices.
struct Budget {
  ReadLimits limits;
  int64_t elements = 0, bytes = 0, members = 0;
};
Budget* g_budget = nullptr;

/// Adds `elements`, `bytes` and `members` to the active budget; Error naming `field` when over a limit.
void charge(const std::string& field, int64_t elements, int64_t bytes, int64_t members = 0) {
  Budget& b = *g_budget;
  // Each argument is below 2^40 (checked shapes and sizes) and each total below its limit: no overflow.
  b.elements += elements;
  b.bytes += bytes;
  b.members += members;
  require(b.elements <= b.limits.max_elements, field, fmt::format("{} elements with this one", b.elements),
          fmt::format("file exceeds its budget of {} tensor elements (raise it with --max-input-elements)",
                      b.limits.max_elements));
  require(b.bytes <= b.limits.max_bytes, field, fmt::format("{} bytes with this one", b.bytes),
          fmt::format("file exceeds its budget of {} bytes (raise it with --max-input-bytes)", b.limits.max_bytes));
  require(b.members <= b.limits.max_members, field, fmt::format("{} attributes and links with these", b.members),
          fmt::format("file exceeds its budget of {} attributes and links", b.limits.max_members));
}

/// Installs `b` as the active budget for the lifetime of the guard.
class BudgetScope {
 public:
  explicit BudgetScope(Budget& b) : prev_(g_budget) { g_budget = &b; }
  ~BudgetScope() { g_budget = prev_; }
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;

 private:
  Budget* prev_;
};

/// Rejects datasets whose data would come from anywhere but this file's own contiguous, chunked or
/// compact storage: external raw-data files and virtual datasets read other files (or FIFOs).
void check_storage(hid_t dset, const std::string& field) {
  Handle dcpl = own(H5Dget_create_plist(dset), H5Pclose, field, "cannot get dataset creation properties");
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_LAYOUT_ERROR) fail(field, "cannot get dataset layout");
  require(layout == H5D_CONTIGUOUS || layout == H5D_CHUNKED || layout == H5D_COMPACT, field,
          layout == H5D_VIRTUAL ? "virtual dataset" : fmt::format("layout {}", static_cast<int>(layout)),
          "unsupported storage: only contiguous, chunked and compact datasets are read (a virtual dataset "
          "reads other files)");
  const int external = H5Pget_external_count(dcpl.get());
  if (external < 0) fail(field, "cannot get external storage");
  require(external == 0, field, fmt::format("{} external files", external),
          "external raw-data storage is not supported (the data would be read from another file)");
}

/// Properties of an HDF5 datatype that the readers switch on.
struct TypeInfo {
  H5T_class_t cls = H5T_NO_CLASS;
  size_t size = 0;
  bool is_signed = false;  ///< integers only
};

TypeInfo type_info(hid_t type, const std::string& field) {
  TypeInfo ti;
  ti.cls = H5Tget_class(type);
  if (ti.cls == H5T_NO_CLASS) fail(field, "cannot get datatype class");
  ti.size = H5Tget_size(type);
  if (ti.size == 0) fail(field, "cannot get datatype size");
  if (ti.cls == H5T_INTEGER) {
    H5T_sign_t sign = H5Tget_sign(type);
    if (sign == H5T_SGN_ERROR) fail(field, "cannot get integer sign");
    ti.is_signed = sign == H5T_SGN_2;
  }
  return ti;
}

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "vlen";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

/// Requires a dataspace holding one value (scalar, or simple with one element); `reason` otherwise.
void require_single_element(hid_t space, const std::string& field, const char* reason) {
  H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_NO_CLASS) fail(field, "cannot get dataspace class");
  if (cls == H5S_SCALAR) return;
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail(field, "cannot get dataspace size");
  require(cls == H5S_SIMPLE && n == 1, field, fmt::format("{} elements", n), reason);
}

/// Reads a name through the usual two-call HDF5 protocol, capped at kMaxNameBytes.
template <class GetName>
std::string read_name(GetName&& get, const std::string& field) {
  ssize_t n = get(nullptr, size_t{0});
  if (n < 0) fail(field, "cannot get name");
  require(static_cast<size_t>(n) <= kMaxNameBytes, field, fmt::format("{} bytes", n),
          fmt::format("name longer than {} bytes", kMaxNameBytes));
  std::string name(static_cast<size_t>(n) + 1, '\0');
  if (get(name.data(), name.size()) < 0) fail(field, "cannot get name");
  name.resize(static_cast<size_t>(n));
  return name;
}

void* capped_alloc(size_t size, void* info) {
  return size > *static_cast<const size_t*>(info) ? nullptr : std::malloc(size);
}
void capped_free(void* mem, void*) { std::free(mem); }

/// Reads a one-element string attribute (`is_attr`) or dataset, fixed- or variable-length, ASCII or UTF-8.
std::string read_string(hid_t obj, bool is_attr, const std::string& field) {
  Handle type = own_type(is_attr ? H5Aget_type(obj) : H5Dget_type(obj), field);
  TypeInfo ti = type_info(type.get(), field);
  require(ti.cls == H5T_STRING, field, class_name(ti.cls), "must be a string");
  Handle space = own_space(is_attr ? H5Aget_space(obj) : H5Dget_space(obj), field);
  require_single_element(space.get(), field, "a string must hold exactly one value");
  H5T_cset_t cset = H5Tget_cset(type.get());
  if (cset == H5T_CSET_ERROR) fail(field, "cannot get string character set");
  htri_t vlen = H5Tis_variable_str(type.get());
  if (vlen < 0) fail(field, "cannot inspect string type");

  Handle mem = own(H5Tcopy(H5T_C_S1), H5Tclose, field, "cannot create string type");
  check(H5Tset_cset(mem.get(), cset), field, "cannot create string type");
  if (vlen > 0) {
    check(H5Tset_size(mem.get(), H5T_VARIABLE), field, "cannot create string type");
    char* p = nullptr;
    if (is_attr) {
      // H5Aread has no transfer property list, so the allocation cannot be capped up front; the length
      // is checked right after.
      check(H5Aread(obj, mem.get(), &p), field, "cannot read string attribute");
    } else {
      Handle dxpl = own_plist(H5Pcreate(H5P_DATASET_XFER), field);
      size_t cap = kMaxStringBytes + 1;
      check(H5Pset_vlen_mem_manager(dxpl.get(), capped_alloc, &cap, capped_free, nullptr), field,
            "cannot set memory manager");
      if (H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, dxpl.get(), &p) < 0) {
        fail(field, fmt::format("cannot read string dataset (strings are limited to {} bytes)", kMaxStringBytes));
      }
    }
    if (p == nullptr) return {};
    const size_t len = strnlen(p, kMaxStringBytes + 1);
    if (len <= kMaxStringBytes) {
      try {
        charge(field, 0, static_cast<int64_t>(len));
      } catch (...) {
        if (is_attr) {
          H5free_memory(p);
        } else {
          std::free(p);
        }
        throw;
      }
    }
    std::string out;
    if (len <= kMaxStringBytes) out.assign(p, len);
    if (is_attr) {
      H5free_memory(p);
    } else {
      std::free(p);
    }
    require(len <= kMaxStringBytes, field, "", fmt::format("string longer than {} bytes", kMaxStringBytes));
    return out;
  }
  require(ti.size <= kMaxStringBytes, field, fmt::format("{} bytes", ti.size),
          fmt::format("string longer than {} bytes", kMaxStringBytes));
  charge(field, 0, static_cast<int64_t>(ti.size));
  // NULLPAD memory type of the same size: no byte of a NULLPAD/NULLTERM/SPACEPAD file string is lost.
  check(H5Tset_size(mem.get(), ti.size), field, "cannot create string type");
  check(H5Tset_strpad(mem.get(), H5T_STR_NULLPAD), field, "cannot create string type");
  std::string buf(ti.size, '\0');
  if (is_attr) {
    check(H5Aread(obj, mem.get(), buf.data()), field, "cannot read string attribute");
  } else {
    check(H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), field, "cannot read string dataset");
  }
  buf.resize(strnlen(buf.data(), buf.size()));
  return buf;
}

/// A native integer of `size` bytes at `p` as int64 (false when an unsigned 64-bit value does not fit).
bool native_int_to_i64(const unsigned char* p, size_t size, bool is_signed, int64_t* out) {
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  switch (size) {
    case 1: *out = is_signed ? load(int8_t{}) : load(uint8_t{}); return true;
    case 2: *out = is_signed ? load(int16_t{}) : load(uint16_t{}); return true;
    case 4: *out = is_signed ? int64_t{load(int32_t{})} : int64_t{load(uint32_t{})}; return true;
    case 8: {
      if (is_signed) {
        *out = load(int64_t{});
        return true;
      }
      uint64_t u = load(uint64_t{});
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(u);
      return true;
    }
    default: return false;
  }
}

/// Scalar integer / enum (h5py bool) attribute as int64.
int64_t read_int_attr(hid_t attr, hid_t type, const TypeInfo& ti, const std::string& field) {
  require(ti.size <= 8, field, fmt::format("{}-byte integer", ti.size),
          "integers wider than 64 bits are not supported");
  if (ti.cls == H5T_INTEGER) {
    if (!ti.is_signed && ti.size == 8) {
      uint64_t u = 0;
      check(H5Aread(attr, H5T_NATIVE_UINT64, &u), field, "cannot read attribute");
      require(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), field, u, "does not fit in int64");
      return static_cast<int64_t>(u);
    }
    int64_t v = 0;
    check(H5Aread(attr, H5T_NATIVE_INT64, &v), field, "cannot read attribute");
    return v;
  }
  // Enum: read through the native enum type, then interpret the bytes as its native base integer.
  Handle native = own(H5Tget_native_type(type, H5T_DIR_ASCEND), H5Tclose, field, "cannot get native type");
  Handle base = own(H5Tget_super(native.get()), H5Tclose, field, "cannot get enum base type");
  TypeInfo bi = type_info(base.get(), field);
  require(bi.cls == H5T_INTEGER && bi.size <= 8, field, class_name(bi.cls), "enum base must be an integer");
  alignas(8) unsigned char buf[8] = {};
  check(H5Aread(attr, native.get(), buf), field, "cannot read attribute");
  int64_t v = 0;
  require(native_int_to_i64(buf, bi.size, bi.is_signed, &v), field, "", "enum value does not fit in int64");
  return v;
}

/// One scalar attribute as a field value (integer/enum -> int64, float -> double, string -> string).
FieldValue read_attr_value(hid_t attr, const std::string& field) {
  Handle space = own_space(H5Aget_space(attr), field);
  require_single_element(space.get(), field, "an attribute must hold exactly one value (store arrays as datasets)");
  Handle type = own_type(H5Aget_type(attr), field);
  TypeInfo ti = type_info(type.get(), field);
  switch (ti.cls) {
    case H5T_INTEGER:
    case H5T_ENUM: return read_int_attr(attr, type.get(), ti, field);
    case H5T_FLOAT: {
      require(ti.size <= 8, field, fmt::format("{}-byte float", ti.size),
              "floats wider than 64 bits are not supported");
      double v = 0;
      check(H5Aread(attr, H5T_NATIVE_DOUBLE, &v), field, "cannot read attribute");
      return v;
    }
    case H5T_STRING: return read_string(attr, true, field);
    default: throw Error(field, class_name(ti.cls), "unsupported attribute type (expected integer, float or string)");
  }
}

/// Calls `fn(name, attr_id)` for every attribute of `obj`, in creation order when indexed.
template <class Fn>
void for_each_attr(hid_t obj, const std::string& obj_field, Fn&& fn) {
  H5O_info_t oinfo;
  check(H5Oget_info2(obj, &oinfo, H5O_INFO_NUM_ATTRS), obj_field, "cannot get object info");
  require(oinfo.num_attrs <= static_cast<hsize_t>(kMaxMembers), obj_field,
          fmt::format("{} attributes", oinfo.num_attrs), fmt::format("more than {} attributes", kMaxMembers));
  H5_index_t index = H5_INDEX_NAME;
  if (H5Iget_type(obj) == H5I_GROUP) {
    Handle cpl = own(H5Gget_create_plist(obj), H5Pclose, obj_field, "cannot get group creation properties");
    unsigned flags = 0;
    check(H5Pget_attr_creation_order(cpl.get(), &flags), obj_field, "cannot get attribute creation order");
    if ((flags & H5P_CRT_ORDER_TRACKED) && (flags & H5P_CRT_ORDER_INDEXED)) index = H5_INDEX_CRT_ORDER;
  }
  charge(obj_field, 0, 0, static_cast<int64_t>(oinfo.num_attrs));
  for (hsize_t i = 0; i < oinfo.num_attrs; ++i) {
    const std::string where = fmt::format("{}@[{}]", obj_field, i);
    Handle attr = own(H5Aopen_by_idx(obj, ".", index, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, where,
                      "cannot open attribute");
    std::string name = read_name([&](char* buf, size_t size) { return H5Aget_name(attr.get(), size, buf); }, where);
    fn(name, attr.get());
  }
}

/// Calls `fn(name, field)` for every link of group `g`, in creation order when indexed. Only hard links are
/// accepted (soft and external links could point anywhere, including other files).
template <class Fn>
void for_each_link(hid_t g, const std::string& obj_field, Fn&& fn) {
  H5G_info_t ginfo;
  check(H5Gget_info(g, &ginfo), obj_field, "cannot get group info");
  require(ginfo.nlinks <= static_cast<hsize_t>(kMaxMembers), obj_field, fmt::format("{} members", ginfo.nlinks),
          fmt::format("more than {} members", kMaxMembers));
  Handle cpl = own(H5Gget_create_plist(g), H5Pclose, obj_field, "cannot get group creation properties");
  unsigned flags = 0;
  check(H5Pget_link_creation_order(cpl.get(), &flags), obj_field, "cannot get link creation order");
  const H5_index_t index =
      (flags & H5P_CRT_ORDER_TRACKED) && (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  charge(obj_field, 0, 0, static_cast<int64_t>(ginfo.nlinks));
  for (hsize_t i = 0; i < ginfo.nlinks; ++i) {
    const std::string where = fmt::format("{}/[{}]", obj_field, i);
    std::string name = read_name(
        [&](char* buf, size_t size) {
          return H5Lget_name_by_idx(g, ".", index, H5_ITER_INC, i, buf, size, H5P_DEFAULT);
        },
        where);
    const std::string field = obj_field + "/" + name;
    H5L_info_t linfo;
    check(H5Lget_info(g, name.c_str(), &linfo, H5P_DEFAULT), field, "cannot get link info");
    require(linfo.type == H5L_TYPE_HARD, field, linfo.type == H5L_TYPE_SOFT ? "soft link" : "external link",
            "only plain (hard-linked) objects are supported");
    fn(name, field);
  }
}

/// Opens `name` in `g` and returns it with its identifier type (dataset, group, ...).
std::pair<Handle, H5I_type_t> open_member(hid_t g, const std::string& name, const std::string& field) {
  Handle obj = own(H5Oopen(g, name.c_str(), H5P_DEFAULT), H5Oclose, field, "cannot open object");
  H5I_type_t t = H5Iget_type(obj.get());
  if (t == H5I_BADID) fail(field, "cannot get object type");
  return {std::move(obj), t};
}

/// Where the elements of a dataset come from.
enum class Source { floating, integer, bool_enum };

/// Shape of a tensor dataset, with every limit checked.
Shape read_shape(hid_t dset, const std::string& field) {
  Handle space = own_space(H5Dget_space(dset), field);
  H5S_class_t cls = H5Sget_simple_extent_type(space.get());
  if (cls == H5S_NO_CLASS) fail(field, "cannot get dataspace class");
  require(cls != H5S_SCALAR, field, "scalar dataset",
          "rank-0 datasets are not supported: a tensor needs rank >= 1 (store scalars as attributes)");
  require(cls == H5S_SIMPLE, field, "null dataspace", "dataset has no dataspace (H5S_NULL)");
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(field, "cannot get dataset rank");
  require(rank >= 1 && rank <= kMaxRank, field, fmt::format("rank {}", rank),
          fmt::format("rank must be in [1, {}]", kMaxRank));
  hsize_t dims[kMaxRank];
  if (H5Sget_simple_extent_dims(space.get(), dims, nullptr) < 0) fail(field, "cannot get dataset dimensions");
  Shape shape(static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    require(dims[i] <= static_cast<hsize_t>(kMaxDim), field, fmt::format("dimension {} = {}", i, dims[i]),
            "dimension above 2^31");
    shape[static_cast<size_t>(i)] = static_cast<int64_t>(dims[i]);
  }
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return shape;
  int64_t numel = 1;
  for (int64_t d : shape) {
    numel *= d;  // <= 2^30 * 2^31 before the check: no overflow
    require(numel <= kMaxElements, field, fmt::format("shape {}", shape_str(shape)), "more than 2^30 elements");
  }
  return shape;
}

/// Rejects chunked layouts whose single chunk would need more than kMaxChunkBytes of buffer.
void check_chunking(hid_t dset, size_t elem_size, const std::string& field) {
  Handle dcpl = own(H5Dget_create_plist(dset), H5Pclose, field, "cannot get dataset creation properties");
  H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_LAYOUT_ERROR) fail(field, "cannot get dataset layout");
  if (layout != H5D_CHUNKED) return;
  hsize_t cdims[H5S_MAX_RANK];
  int crank = H5Pget_chunk(dcpl.get(), H5S_MAX_RANK, cdims);
  if (crank < 0) fail(field, "cannot get chunk shape");
  int64_t bytes = static_cast<int64_t>(elem_size);
  for (int i = 0; i < std::min(crank, H5S_MAX_RANK); ++i) {
    const hsize_t c = cdims[i];
    // bytes <= 2^28 and c <= 2^28 before the multiplication: no overflow.
    require(c <= static_cast<hsize_t>(kMaxChunkBytes) && bytes * static_cast<int64_t>(c) <= kMaxChunkBytes, field,
            fmt::format("chunk dimension {} = {}", i, c), fmt::format("chunk larger than {} bytes", kMaxChunkBytes));
    bytes *= static_cast<int64_t>(c);
  }
}

/// Reads the whole dataset into `buf` as `mem_type` (skipped for empty datasets).
void read_all(hid_t dset, hid_t mem_type, void* buf, int64_t numel, const std::string& field) {
  if (numel == 0) return;
  check(H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), field, "cannot read dataset");
}

/// Reads integers into a temporary int64 buffer (values checked to fit in int64).
std::vector<int64_t> read_ints_i64(hid_t dset, const TypeInfo& ti, int64_t numel, const std::string& field) {
  std::vector<int64_t> out(static_cast<size_t>(numel));
  if (!ti.is_signed && ti.size == 8) {
    static_assert(sizeof(uint64_t) == sizeof(int64_t));
    read_all(dset, H5T_NATIVE_UINT64, out.data(), numel, field);
    for (size_t i = 0; i < out.size(); ++i) {
      uint64_t u;
      std::memcpy(&u, &out[i], sizeof u);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        require(false, fmt::format("{}[{}]", field, i), u, "does not fit in int64");
    }
  } else {
    read_all(dset, H5T_NATIVE_INT64, out.data(), numel, field);
  }
  return out;
}

/// Float data of any supported width into a floating tensor, rounded with Tensor::set.
void read_floats_into(hid_t dset, const TypeInfo& ti, Tensor& t, const std::string& field) {
  const int64_t n = t.numel();
  if (t.dtype() == DType::f32 && ti.size <= 4) {
    read_all(dset, H5T_NATIVE_FLOAT, t.raw(), n, field);
  } else if (ti.size <= 4) {
    std::vector<float> tmp(static_cast<size_t>(n));
    read_all(dset, H5T_NATIVE_FLOAT, tmp.data(), n, field);
    for (int64_t i = 0; i < n; ++i) t.set(i, static_cast<double>(tmp[static_cast<size_t>(i)]));
  } else {
    std::vector<double> tmp(static_cast<size_t>(n));
    read_all(dset, H5T_NATIVE_DOUBLE, tmp.data(), n, field);
    for (int64_t i = 0; i < n; ++i) t.set(i, tmp[static_cast<size_t>(i)]);
  }
}

/// Integer data into an i32 / i64 / bool tensor with range checks.
void read_ints_into(hid_t dset, const TypeInfo& ti, Tensor& t, const std::string& field) {
  const int64_t n = t.numel();
  int64_t lo = 0, hi = 1;
  switch (t.dtype()) {
    case DType::i64:
      if (ti.is_signed || ti.size < 8) {
        read_all(dset, H5T_NATIVE_INT64, t.raw(), n, field);
        return;
      }
      lo = std::numeric_limits<int64_t>::min();
      hi = std::numeric_limits<int64_t>::max();
      break;
    case DType::i32:
      if ((ti.is_signed && ti.size <= 4) || (!ti.is_signed && ti.size <= 2)) {
        read_all(dset, H5T_NATIVE_INT32, t.raw(), n, field);
        return;
      }
      lo = std::numeric_limits<int32_t>::min();
      hi = std::numeric_limits<int32_t>::max();
      break;
    case DType::boolean:
      if (ti.size == 1) {
        read_all(dset, ti.is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8, t.raw(), n, field);
        auto v = t.span<uint8_t>();
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i] > 1)
            require(false, fmt::format("{}[{}]", field, i),
                  ti.is_signed ? static_cast<int>(static_cast<int8_t>(v[i])) : static_cast<int>(v[i]),
                  "bool value must be 0 or 1");
        }
        return;
      }
      break;
    default: throw Error(field, dtype_name(t.dtype()), "internal: not an integer dtype");
  }
  std::vector<int64_t> tmp = read_ints_i64(dset, ti, n, field);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = tmp[static_cast<size_t>(i)];
    // The element name is formatted only for a failing element (this loop runs per element).
    if (v < lo || v > hi)
      require(false, fmt::format("{}[{}]", field, i), v,
            fmt::format("out of range for {}", t.dtype() == DType::boolean ? "bool (0 or 1)" : dtype_name(t.dtype())));
    if (t.dtype() == DType::i32) {
      const auto x = static_cast<int32_t>(v);
      std::memcpy(t.raw() + i * 4, &x, 4);
    } else if (t.dtype() == DType::i64) {
      std::memcpy(t.raw() + i * 8, &v, 8);
    } else {
      t.raw()[i] = static_cast<std::byte>(v);
    }
  }
}

/// The lockstep dtype a dataset maps to (explicit `dtype` attribute, or inferred from the HDF5 type).
DType tensor_dtype(const std::optional<DType>& declared, Source src, const TypeInfo& ti, const std::string& field) {
  const std::string stored =
      fmt::format("{}-byte {}{}", ti.size, src == Source::integer ? (ti.is_signed ? "signed " : "unsigned ") : "",
                  src == Source::bool_enum ? "enum" : (src == Source::floating ? "float" : "integer"));
  if (declared) {
    const DType dt = *declared;
    const char* name = dtype_name(dt);
    switch (dt) {
      case DType::f32: require(src == Source::floating, field, stored, "dtype f32 needs float data"); break;
      case DType::bf16:
      case DType::f16:
        require(src == Source::floating || (src == Source::integer && ti.size == 2), field, stored,
                fmt::format("dtype {} needs 16-bit integer bits (uint16) or float32/float64 values", name));
        break;
      case DType::i32:
      case DType::i64:
        require(src == Source::integer, field, stored, fmt::format("dtype {} needs integer data", name));
        break;
      case DType::boolean:
        require(src == Source::integer || src == Source::bool_enum, field, stored, "dtype bool needs integer data");
        break;
    }
    return dt;
  }
  switch (src) {
    case Source::floating: return ti.size == 2 ? DType::f16 : DType::f32;
    case Source::bool_enum: return DType::boolean;
    case Source::integer:
      if (ti.is_signed && ti.size == 4) return DType::i32;
      if (!ti.is_signed && ti.size == 1) return DType::boolean;
      return DType::i64;
  }
  return DType::f32;
}

Tensor read_tensor(hid_t dset, const std::string& field) {
  Shape shape = read_shape(dset, field);
  Handle type = own_type(H5Dget_type(dset), field);
  TypeInfo ti = type_info(type.get(), field);

  Source src;
  Handle native_enum;
  switch (ti.cls) {
    case H5T_FLOAT:
      require(ti.size == 2 || ti.size == 4 || ti.size == 8, field, fmt::format("{}-byte float", ti.size),
              "float datasets must be 16, 32 or 64 bits");
      src = Source::floating;
      break;
    case H5T_INTEGER:
      require(ti.size <= 8, field, fmt::format("{}-byte integer", ti.size),
              "integers wider than 64 bits are not supported");
      src = Source::integer;
      break;
    case H5T_ENUM: {
      native_enum = own(H5Tget_native_type(type.get(), H5T_DIR_ASCEND), H5Tclose, field, "cannot get native type");
      Handle base = own(H5Tget_super(type.get()), H5Tclose, field, "cannot get enum base type");
      TypeInfo bi = type_info(base.get(), field);
      require(bi.cls == H5T_INTEGER && bi.size == 1 && H5Tget_size(native_enum.get()) == 1, field,
              fmt::format("{}-byte enum", ti.size), "only 1-byte enums (h5py/numpy bool) are supported");
      src = Source::bool_enum;
      break;
    }
    default: throw Error(field, class_name(ti.cls), "unsupported dataset type (expected float, integer or bool)");
  }
  check_storage(dset, field);
  check_chunking(dset, ti.size, field);

  std::optional<DType> declared;
  htri_t has_dtype = H5Aexists(dset, "dtype");
  if (has_dtype < 0) fail(field, "cannot look up the dtype attribute");
  if (has_dtype > 0) {
    const std::string afield = field + "@dtype";
    Handle attr = own(H5Aopen(dset, "dtype", H5P_DEFAULT), H5Aclose, afield, "cannot open attribute");
    declared = parse_dtype(read_string(attr.get(), true, afield), afield);
  }
  const DType dt = tensor_dtype(declared, src, ti, field);

  // Decompressed bytes + the tensor + a conversion buffer of up to 8 bytes per element.
  const int64_t numel = shape_numel(shape);
  const int64_t tensor_size = static_cast<int64_t>(dtype_size(dt));
  const bool converts = !(src == Source::floating && dt == DType::f32 && ti.size <= 4) &&
                        !(src == Source::integer && (dt == DType::bf16 || dt == DType::f16)) &&
                        src != Source::bool_enum;
  charge(field, numel, numel * (static_cast<int64_t>(ti.size) + tensor_size + (converts ? 8 : 0)));
  Tensor t(dt, std::move(shape));
  switch (src) {
    case Source::floating: read_floats_into(dset, ti, t, field); break;
    case Source::bool_enum: {
      read_all(dset, native_enum.get(), t.raw(), t.numel(), field);
      auto v = t.span<uint8_t>();
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] > 1) require(false, fmt::format("{}[{}]", field, i), static_cast<int>(v[i]), "bool value must be 0 or 1");
      }
      break;
    }
    case Source::integer:
      if (dt == DType::bf16 || dt == DType::f16) {
        read_all(dset, ti.is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16, t.raw(), t.numel(), field);
      } else {
        read_ints_into(dset, ti, t, field);
      }
      break;
  }
  return t;
}

/// Reads group `g` (/case or /outputs/<name>) into a Record: attributes, then datasets.
Record read_record(hid_t g, const std::string& obj_field) {
  Record r;
  std::set<std::string> names;
  for_each_attr(g, obj_field, [&](const std::string& name, hid_t attr) {
    const std::string field = obj_field + "/" + name;
    r.fields.emplace_back(name, read_attr_value(attr, field));
    names.insert(name);
  });
  for_each_link(g, obj_field, [&](const std::string& name, const std::string& field) {
    require(!names.count(name), field, "", "defined both as an attribute and as a dataset");
    auto [obj, type] = open_member(g, name, field);
    require(type == H5I_DATASET, field, type == H5I_GROUP ? "group" : "named datatype",
            "fields must be attributes or datasets");
    r.fields.emplace_back(name, read_tensor(obj.get(), field));
  });
  return r;
}

void check_file_exists(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (st.type() == std::filesystem::file_type::not_found) throw Error(path, "", "cannot open: no such file");
  if (ec) throw Error(path, "", "cannot open: " + ec.message());
  if (st.type() == std::filesystem::file_type::directory) throw Error(path, "", "cannot open: is a directory");
  if (st.type() != std::filesystem::file_type::regular) {
    // A FIFO would block the reader forever; a device could be anything.
    throw Error(path, "", "cannot open: not a regular file (FIFO, device or socket)");
  }
}

/// Reads everything below the root group `root` of file `path`.
Dump read_root(hid_t root, const std::string& path) {
  const std::string f = path + ":";

  // Schema version first: a file that is not ours gets one clear message.
  {
    const std::string field = f + "/lockstep_schema";
    htri_t has = H5Aexists(root, "lockstep_schema");
    if (has < 0) fail(field, "cannot look up attribute");
    require(has > 0, field, "", "missing root attribute (not a lockstep file?)");
    Handle attr = own(H5Aopen(root, "lockstep_schema", H5P_DEFAULT), H5Aclose, field, "cannot open attribute");
    FieldValue v = read_attr_value(attr.get(), field);
    const int64_t* version = std::get_if<int64_t>(&v);
    require(version != nullptr, field, "", "must be an integer attribute");
    require(*version == kSchemaVersion, field, *version,
            fmt::format("unsupported schema version (this build reads {})", kSchemaVersion));
  }

  Dump d;
  bool has_kind = false, has_op = false;
  for_each_attr(root, f + "/", [&](const std::string& name, hid_t attr) {
    const std::string field = f + "/" + name;
    if (name == "lockstep_schema") return;
    if (name == "kind") {
      d.kind = read_string(attr, true, field);
      has_kind = true;
      return;
    }
    if (name == "op") {
      d.op = read_string(attr, true, field);
      has_op = true;
      return;
    }
    FieldValue v = read_attr_value(attr, field);
    if (auto* s = std::get_if<std::string>(&v)) {
      d.info.emplace_back(name, std::move(*s));
    } else if (auto* i = std::get_if<int64_t>(&v)) {
      d.info.emplace_back(name, std::to_string(*i));
    } else {
      throw Error(field, "", "info attributes must be strings (or integers)");
    }
  });
  require(has_kind, f + "/kind", "", "missing root attribute");
  require(is_valid_kind(d.kind), f + "/kind", d.kind, kind_rule());
  require(has_op && !d.op.empty(), f + "/op", "", "missing or empty root attribute");

  bool has_case = false;
  for_each_link(root, f, [&](const std::string& name, const std::string& field) {
    // No structured binding here: `obj` is captured by the lambda below (clang 14 rejects that).
    std::pair<Handle, H5I_type_t> member = open_member(root, name, field);
    Handle& obj = member.first;
    const H5I_type_t type = member.second;
    if (name == "case") {
      require(type == H5I_GROUP, field, "", "must be a group");
      d.case_fields = read_record(obj.get(), field);
      has_case = true;
    } else if (name == "outputs") {
      require(type == H5I_GROUP, field, "", "must be a group");
      for_each_link(obj.get(), field, [&](const std::string& out_name, const std::string& out_field) {
        auto [g, gtype] = open_member(obj.get(), out_name, out_field);
        require(gtype == H5I_GROUP, out_field, "", "each output must be a group");
        d.outputs.emplace_back(out_name, read_record(g.get(), out_field));
      });
    } else if (name == "report_json") {
      require(type == H5I_DATASET, field, "", "must be a string dataset");
      check_storage(obj.get(), field);
      d.report_json = read_string(obj.get(), false, field);
    } else {
      throw Error(field, "", "unexpected object (the root holds only /case, /outputs and /report_json)");
    }
  });
  require(has_case || d.kind == "outputs", f + "/case", "",
          fmt::format("missing group (required for kind {})", d.kind));
  return d;
}

/// HDF5 library settings for reading untrusted files: no error printing, no filter plugins (a file
/// names filters by number; a plugin directory would turn that into loading a shared library).
void harden_hdf5() {
  silence_hdf5();
  H5PLset_loading_state(0);
}

/// Reads the open file `file` (closes it); `name` is the file in messages.
Dump read_opened(Handle file, const std::string& name, const ReadLimits& limits) {
  Budget budget{limits};
  BudgetScope scope(budget);
  Dump d;
  {
    Handle root = own(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose, name + ":/", "cannot open root group");
    d = read_root(root.get(), name);
  }
  check(H5Fclose(file.release()), name, "cannot close file");
  return d;
}

Dump read_hdf5(const std::string& path, const ReadLimits& limits) {
  check_file_exists(path);
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) fail(path, "cannot open");
  if (is_hdf5 == 0) throw Error(path, "", "not an HDF5 file (no HDF5 signature)");

  Handle fapl = own_plist(H5Pcreate(H5P_FILE_ACCESS), path);
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), path, "cannot set close degree");
  Handle file = own(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose, path, "cannot open HDF5 file");
  return read_opened(std::move(file), path, limits);
}

/// Runs `fn`; an out-of-memory anywhere in it becomes an Error naming `name`.
template <class Fn>
Dump catching_bad_alloc(const std::string& name, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    throw Error(name, "", "out of memory while reading the file");
  }
}

}  // namespace

void register_file_kind(const FileKind& kind) {
  const std::string field = "file kind " + kind.name;
  require(!kind.name.empty() && !kind.op.empty(), field, kind.op, "a file kind needs a name and an op");
  require(std::find(std::begin(kBuiltinKinds), std::end(kBuiltinKinds), kind.name) == std::end(kBuiltinKinds), field,
          kind.op, "is a built-in kind");
  if (const FileKind* k = find_file_kind(kind.name)) {
    require(k->op == kind.op, field, kind.op, "already registered by op " + k->op);
    return;
  }
  registered_kinds().push_back(kind);
}

const std::vector<FileKind>& file_kinds() { return registered_kinds(); }

const FileKind* find_file_kind(const std::string& name) {
  for (const FileKind& k : registered_kinds())
    if (k.name == name) return &k;
  return nullptr;
}

std::vector<std::string> known_kinds() {
  std::vector<std::string> kinds(std::begin(kBuiltinKinds), std::end(kBuiltinKinds));
  for (const FileKind& k : registered_kinds()) kinds.push_back(k.name);
  return kinds;
}

void write_file(const std::string& path, const Dump& d) {
  check_dump_for_write(path, d);
  {
    // rename() would silently replace a device (/dev/null), a FIFO or an empty directory.
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    const bool special = std::filesystem::exists(st) && !std::filesystem::is_regular_file(st) &&
                         st.type() != std::filesystem::file_type::unknown;
    if (special) throw Error(path, "", "exists and is not a regular file; refusing to replace it");
  }
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5();
  const std::string tmp = fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
  TemporaryFileScope registered(tmp);
  try {
    write_hdf5(tmp, path, d);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::error_code(errno, std::generic_category()).message();
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error(path, "", "cannot rename " + tmp + " into place: " + reason);
  }
}

std::string write_image(const Dump& d, const std::string& name) {
  check_dump_for_write(name, d);
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5();
  // Written to a temporary file and read back: an in-memory (core driver) image taken with
  // H5Fget_file_image before the close fails h5py's superblock checksum.
  static uint64_t counter = 0;
  const std::filesystem::path tmp = std::filesystem::temp_directory_path() /
                                    fmt::format("lockstep-image-{}-{}.h5", static_cast<long>(::getpid()), counter++);
  std::string image;
  try {
    write_hdf5(tmp.string(), name, d);
    std::ifstream in(tmp, std::ios::binary);
    image.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    require(in.good() || in.eof(), name, tmp.string(), "cannot read back the temporary file");
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  return image;
}

void remove_temporary_file_now() noexcept {
  if (g_temporary_set != 0) ::unlink(g_temporary);
}

std::mutex& hdf5_io_mutex() {
  static std::mutex m;
  return m;
}

void check_writable_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path p = dir.empty() ? fs::path(".") : fs::path(dir);
  bool exists = true;
  for (;;) {
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (st.type() != fs::file_type::not_found) {
      if (ec) throw Error(dir, "", "cannot use as dump directory: " + ec.message());
      break;
    }
    exists = false;
    const fs::path parent = p.has_relative_path() ? p.parent_path() : p;
    p = parent.empty() ? fs::path(".") : parent;
  }
  const std::string what = exists ? "" : " (its existing ancestor " + p.string() + ")";
  std::error_code ec;
  require(fs::is_directory(p, ec), dir, "", "cannot use as dump directory: not a directory" + what);
  require(::access(p.c_str(), W_OK | X_OK) == 0, dir, "",
          "cannot use as dump directory: not writable" + what + ": " +
              std::error_code(errno, std::generic_category()).message());
}

Dump read_file_unlocked(const std::string& path, const ReadLimits& limits) {
  harden_hdf5();
  return catching_bad_alloc(path, [&] { return read_hdf5(path, limits); });
}

Dump read_file_in_process(const std::string& path, const ReadLimits& limits) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  return read_file_unlocked(path, limits);
}

Dump read_image(const void* data, size_t size, const std::string& name, const ReadLimits& limits) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  harden_hdf5();
  return catching_bad_alloc(name, [&] {
    Handle fapl = own_plist(H5Pcreate(H5P_FILE_ACCESS), name);
    check(H5Pset_fapl_core(fapl.get(), 1 << 16, 0), name, "cannot set the in-memory driver");
    check(H5Pset_file_image(fapl.get(), const_cast<void*>(data), size), name, "cannot set the file image");
    check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), name, "cannot set close degree");
    Handle file = own(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose, name, "cannot open HDF5 file");
    return read_opened(std::move(file), name, limits);
  });
}

Dump read_file(const std::string& path, const ReadOptions& options) {
  if (!options.isolate) return read_file_in_process(path, options.limits);
  return read_file_isolated(path, options);
}

}  // namespace lockstep::h5
