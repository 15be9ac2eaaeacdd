#pragma once
/// External implementations (`--impl path/to/lib.so`, ABI: include/lockstep/impl.h). A loaded plugin is
/// one more device side of the op contract: impl_outputs() below marshals a Case into the plugin's named
/// arguments (derived from the case's fields()), allocates every output the reference produced in the
/// plugin's memory space, calls it, and builds the Outputs from the filled buffers. Its capabilities
/// restrict generation (ImplOp, oracle/impl_op.h). Nothing here is written per op.
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/oob_reads.h"
#include "core/record.h"
#include "device/core/impl_memory.h"
#include "lockstep/impl.h"

namespace lockstep::oracle {

/// One capability of a plugin for one op, checked against the op's case fields when the plugin loads.
struct Capability {
  enum Kind { enum_field, int_field, real_field, tensor_field };
  std::string field;
  Kind kind = int_field;
  std::vector<std::string> values;  ///< enum names, integers (as text) or tensor dtypes; empty = no list
  bool has_range = false;
  int64_t min = 0, max = -1;
  /// Tensor fields: element properties (kTensorProperties), declared among the values next to the dtypes.
  std::vector<std::string> properties;
  /// "dtype in {f32}", "head_dim in {64,128}", "num_seqs in [1, 8]", "q dtype in {f32}, numel in [0, 4096]",
  /// "gating_output elements finite and distinct per row".
  std::string text() const;
  /// Whether the case (as a record of its fields) satisfies it.
  bool accepts(const Record& c) const;
};

/// Element properties a tensor capability may require (include/lockstep/impl.h):
///   finite    no NaN and no infinity among the elements (floating tensors; integer tensors always are)
///   distinct  no two equal elements within a row (the last axis): +0 equals -0, and all NaNs are one value —
///             for implementations whose order of equal values is their own (a top-k, a sort)
inline const std::vector<std::string> kTensorProperties{"finite", "distinct"};

/// Whether tensor `t` has element property `property` (one of kTensorProperties).
bool tensor_has_property(const Tensor& t, const std::string& property);

struct ImplOpSupport {
  std::string op;
  std::vector<Capability> caps;
  std::string caps_text() const;  ///< "; "-joined texts, or "none"
};

/// Seconds a case may take in an external implementation unless --impl-timeout or the worker says otherwise.
inline constexpr double kDefaultImplTimeout = 60;

/// Options of external implementations that run in another process (the Python worker, isolated plugins).
struct ImplOptions {
  /// Per case: a worker that has not answered by then is killed (and restarted), an isolated plugin call
  /// killed. 0 = the default: what the worker declared (lockstep_worker.set_timeout), else kDefaultImplTimeout.
  double timeout_s = 0;
  double startup_timeout_s = 300;  ///< start-up of the worker until it has declared itself (imports, JIT)
  /// Host-memory plugins: each call runs in a forked child (a crash or hang of the plugin fails that case
  /// only; timeout_s applies). false = in lockstep's process (a plugin crash ends lockstep). CUDA plugins
  /// always run in-process (a CUDA context does not survive fork).
  bool isolate_plugins = true;
};

/// One output a worker is asked for: a tensor with the dtype and shape the reference produced, or a scalar.
struct ImplOutputSpec {
  std::string name;
  std::string kind;  ///< "tensor", "int" or "real"
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
};

/// An external implementation, whatever its transport: a C-ABI plugin (`--impl lib.so`, this file's
/// impl_outputs marshals named lockstep_args) or a Python worker process (`--impl python:worker.py`,
/// oracle/impl_worker.h: the case and the wanted outputs travel as HDF5 file images in the dump schema).
/// Both declare a name and per-op capabilities, checked the same way against the op's case fields.
class Impl {
 public:
  enum class Transport { plugin, python };
  /// Loads and checks an implementation: `python:PATH` starts a Python worker, anything else is a plugin
  /// library. Every problem (not a library, a missing export, an ABI mismatch, a worker that does not
  /// start, an unknown op or case field in its capabilities) throws one Error naming it and what is wrong.
  static std::shared_ptr<const Impl> load(const std::string& spec, const ImplOptions& options = {});
  virtual ~Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Transport transport() const { return transport_; }
  /// What --impl takes to load it again (absolute; `python:` prefixed for a worker).
  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }
  device::ImplMemory memory() const { return memory_; }
  const std::vector<ImplOpSupport>& ops() const { return ops_; }
  /// The op's declared support; throws Error naming --impl when the plugin does not declare the op.
  const ImplOpSupport& support(const std::string& op) const;
  /// Throws Error when the plugin's memory space is not available here (CUDA without a device).
  void require_memory() const;
  /// Plugin transport: calls lockstep_impl_run (serialised); a nonzero return throws Error with the plugin's
  /// message.
  virtual void call(const std::string& op, const lockstep_args& in, lockstep_args& out) const;
  /// Record transport: runs the case (its fields) and returns the implementation's outputs record (not
  /// checked against `wanted` here). A failure, crash or timeout of the implementation throws Error.
  virtual Record exchange(const std::string& op, const Record& case_fields,
                          const std::vector<ImplOutputSpec>& wanted) const;

 protected:
  explicit Impl(Transport t) : transport_(t) {}
  /// Takes name, memory and ops from `d` with every check of load(); `path` names the implementation in
  /// the errors (field --impl).
  void declare(const lockstep_impl_desc* d, const std::string& path);
  Transport transport_;
  std::string path_, name_;
  device::ImplMemory memory_ = device::ImplMemory::host;
  std::vector<ImplOpSupport> ops_;
};

namespace detail {

/// Buffers of one plugin call: tensors in the plugin's memory (freed on destruction), scalars and strings
/// on the host.
class ImplCall {
 public:
  explicit ImplCall(device::ImplMemory m) : mem_(m) {}
  ~ImplCall() {
    for (void* p : owned_) device::impl_free(mem_, p);
  }
  ImplCall(const ImplCall&) = delete;
  ImplCall& operator=(const ImplCall&) = delete;

  /// A tensor argument holding `t` (uploaded), or poisoned when `poison`.
  lockstep_arg tensor(const char* name, const Tensor& t, bool poison) {
    lockstep_arg a = header(name, LOCKSTEP_TENSOR, static_cast<int32_t>(t.dtype()));
    require(t.rank() <= LOCKSTEP_MAX_RANK, name, t.describe(), "rank exceeds LOCKSTEP_MAX_RANK");
    a.rank = static_cast<int32_t>(t.rank());
    int64_t stride = 1;
    for (int k = a.rank - 1; k >= 0; --k) {
      a.shape[k] = t.dim(static_cast<size_t>(k));
      a.strides[k] = stride;
      stride *= a.shape[k];
    }
    a.numel = t.numel();
    if (t.numel() == 0) return a;
    a.data = device::impl_alloc(mem_, t.nbytes());
    owned_.push_back(a.data);
    if (poison) {
      std::vector<std::byte> bytes(t.nbytes());
      poison_fill(t.dtype(), bytes.data(), t.numel());
      device::impl_upload(mem_, a.data, bytes.data(), bytes.size());
    } else {
      device::impl_upload(mem_, a.data, t.raw(), t.nbytes());
    }
    return a;
  }
  lockstep_arg integer(const char* name, int64_t v) {
    ints_.push_back(v);
    lockstep_arg a = header(name, LOCKSTEP_SCALAR, LOCKSTEP_I64);
    a.numel = 1;
    a.data = &ints_.back();
    return a;
  }
  lockstep_arg real(const char* name, double v) {
    reals_.push_back(v);
    lockstep_arg a = header(name, LOCKSTEP_SCALAR, LOCKSTEP_F64);
    a.numel = 1;
    a.data = &reals_.back();
    return a;
  }
  lockstep_arg string(const char* name, std::string v) {
    strings_.push_back(std::move(v));
    lockstep_arg a = header(name, LOCKSTEP_STRING, 0);
    a.data = strings_.back().data();
    return a;
  }
  /// The tensor of argument `a` copied back to the host, with `like`'s dtype and shape.
  Tensor download(const lockstep_arg& a, const Tensor& like) const {
    if (like.numel() == 0) return like;  // an empty (unused) tensor: nothing was passed
    Tensor t(like.dtype(), like.shape());
    if (t.numel() > 0) device::impl_download(mem_, t.raw(), a.data, t.nbytes());
    return t;
  }
  device::ImplMemory memory() const { return mem_; }

  /// NaN (floats) or 0xA5 bytes (integers): values a plugin that skips an element cannot pass with.
  static void poison_fill(DType dt, std::byte* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      switch (dt) {
        case DType::f32: { const uint32_t u = 0x7fa5a5a5u; std::memcpy(p + 4 * i, &u, 4); break; }
        case DType::bf16: { const uint16_t u = 0x7fa5u; std::memcpy(p + 2 * i, &u, 2); break; }
        case DType::f16: { const uint16_t u = 0x7da5u; std::memcpy(p + 2 * i, &u, 2); break; }
        default: std::memset(p + dtype_size(dt) * i, 0xa5, dtype_size(dt)); break;
      }
    }
  }

 private:
  static lockstep_arg header(const char* name, int32_t kind, int32_t dtype) {
    lockstep_arg a{};
    a.name = name;
    a.kind = kind;
    a.dtype = dtype;
    return a;
  }
  device::ImplMemory mem_;
  std::vector<void*> owned_;
  std::deque<int64_t> ints_;
  std::deque<double> reals_;
  std::deque<std::string> strings_;
};

/// Which output fields a plugin is asked for: every tensor, integer and real output except Rule::info
/// (taken from the reference), Rule::oob_reads (none: a black box has no checked accessor) and
/// Rule::oob_dropped (0). Enum and string outputs are the reference's.
inline bool impl_produces(const Rule& r) {
  return r.kind != Rule::info && r.kind != Rule::oob_reads && r.kind != Rule::oob_dropped;
}

/// Visits the outputs of the reference, building the plugin's output arguments.
struct OutputArgs {
  ImplCall& call;
  const std::vector<std::pair<std::string, const Tensor*>>& inputs;
  std::vector<lockstep_arg> args;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&... extra) {
    const Rule rule = rule_of(extra...);
    if (!impl_produces(rule)) return;
    if constexpr (std::is_same_v<F, Tensor>) {
      const Tensor* same = nullptr;  // an input of the same name, dtype and shape: updated in place
      for (const auto& [n, t] : inputs)
        if (n == name && t->dtype() == f.dtype() && t->shape() == f.shape()) same = t;
      args.push_back(same ? call.tensor(name, *same, false) : call.tensor(name, f, true));
    } else if constexpr (std::is_same_v<F, double>) {
      args.push_back(call.real(name, std::nan("")));
    } else if constexpr (std::is_integral_v<F>) {
      args.push_back(call.integer(name, INT64_MIN));
    }
  }
};

/// An output only lockstep's own kernels produce (their OOB read log, dropped-read count) starts empty in
/// the device outputs of an external implementation: the reference's copy must not pass as its answer.
template <class F>
void clear_lockstep_only(F& f, const Rule& rule) {
  if constexpr (std::is_same_v<F, Tensor>) {
    if (rule.kind == Rule::oob_reads) f = oob_tensor({});
  } else if constexpr (std::is_integral_v<F>) {
    if (rule.kind == Rule::oob_dropped) f = 0;
  }
}

/// Visits the device outputs (a copy of the reference's), replacing what the plugin produced.
struct OutputFill {
  const ImplCall& call;
  const std::vector<lockstep_arg>& args;
  size_t k = 0;
  template <class F, class... Extra>
  void operator()(const char*, F& f, const Extra&... extra) {
    const Rule rule = rule_of(extra...);
    clear_lockstep_only(f, rule);
    if (!impl_produces(rule)) return;
    if constexpr (std::is_same_v<F, Tensor>) {
      f = call.download(args[k++], f);
    } else if constexpr (std::is_same_v<F, double>) {
      f = *static_cast<const double*>(args[k++].data);
    } else if constexpr (std::is_integral_v<F>) {
      f = static_cast<F>(*static_cast<const int64_t*>(args[k++].data));
    }
  }
};

/// Record transport: the wanted outputs (what impl_produces) with the reference's dtypes and shapes.
struct OutputSpecs {
  std::vector<ImplOutputSpec> specs;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&... extra) {
    if (!impl_produces(rule_of(extra...))) return;
    if constexpr (std::is_same_v<F, Tensor>) {
      // An absent tensor (a default Tensor: rank 0, no elements - e.g. a variant's unused output) is not asked
      // for: a worker cannot return one (a transported tensor has rank >= 1), and RecordFill keeps the
      // reference's absent tensor, so a worker that returns it anyway is told it was not asked for.
      if (f.rank() == 0 && f.empty()) return;
      specs.push_back({name, "tensor", f.dtype(), f.shape()});
    } else if constexpr (std::is_same_v<F, double>) {
      specs.push_back({name, "real", DType::f32, {}});
    } else if constexpr (std::is_integral_v<F>) {
      specs.push_back({name, "int", DType::f32, {}});
    }
  }
};

/// Checks the returned record against the wanted outputs: one message per problem (missing, not asked
/// for, wrong kind, dtype or shape); empty when it fits.
std::vector<std::string> check_returned(const Record& got, const std::vector<ImplOutputSpec>& wanted);

/// Visits the device outputs (a copy of the reference's), taking what the implementation returned.
struct RecordFill {
  const Record& got;
  template <class F, class... Extra>
  void operator()(const char* name, F& f, const Extra&... extra) {
    const Rule rule = rule_of(extra...);
    clear_lockstep_only(f, rule);
    if (!impl_produces(rule)) return;
    const FieldValue* v = got.find(name);
    if (v == nullptr) return;  // not asked for (an absent tensor of the reference's, OutputSpecs): kept
    if constexpr (std::is_same_v<F, Tensor>) {
      f = std::get<Tensor>(*v);
    } else if constexpr (std::is_same_v<F, double>) {
      f = std::holds_alternative<double>(*v) ? std::get<double>(*v) : static_cast<double>(std::get<int64_t>(*v));
    } else if constexpr (std::is_integral_v<F>) {
      f = static_cast<F>(std::get<int64_t>(*v));
    }
  }
};

/// The device side through a record transport (a Python worker).
template <class Case, class Outputs>
Outputs record_outputs(const Impl& impl, const std::string& op, const Case& c, const Outputs& ref) {
  OutputSpecs specs;
  const_cast<Outputs&>(ref).fields(specs);
  const Record got = impl.exchange(op, to_record(c), specs.specs);
  const std::vector<std::string> problems = check_returned(got, specs.specs);
  if (!problems.empty()) {
    std::string all;
    for (const std::string& p : problems) all += (all.empty() ? "" : "; ") + p;
    throw Error("impl " + impl.name(), op, "wrong outputs: " + all);
  }
  Outputs dev = ref;
  RecordFill fill{got};
  dev.fields(fill);
  return dev;
}

}  // namespace detail

/// The device side of the op contract through plugin `impl`: the case's fields as inputs, the outputs the
/// reference produced (`ref`: their shapes and dtypes) as outputs. Throws Error for a failed call or an
/// input the plugin wrote.
template <class Case, class Outputs>
Outputs impl_outputs(const Impl& impl, const std::string& op, const Case& c, const Outputs& ref) {
  if (impl.transport() != Impl::Transport::plugin) return detail::record_outputs(impl, op, c, ref);
  detail::ImplCall call(impl.memory());
  std::vector<lockstep_arg> in;
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for_each_field(c, [&](const char* name, const auto& f) {
    using F = std::decay_t<decltype(f)>;
    if constexpr (std::is_same_v<F, Tensor>) {
      in.push_back(call.tensor(name, f, false));
      tensors.emplace_back(name, &f);
    } else if constexpr (std::is_enum_v<F>) {
      in.push_back(call.string(name, enum_name(f)));
    } else if constexpr (std::is_same_v<F, std::string>) {
      in.push_back(call.string(name, f));
    } else if constexpr (std::is_same_v<F, double>) {
      in.push_back(call.real(name, f));
    } else {
      in.push_back(call.integer(name, static_cast<int64_t>(f)));
    }
  });
  detail::OutputArgs outs{call, tensors, {}};
  const_cast<Outputs&>(ref).fields(outs);
  // The plugin gets copies of the descriptors: what it writes into them cannot redirect lockstep's reads.
  std::vector<lockstep_arg> in_copy = in, out_copy = outs.args;
  lockstep_args in_args{static_cast<int32_t>(in_copy.size()), in_copy.data()};
  lockstep_args out_args{static_cast<int32_t>(out_copy.size()), out_copy.data()};
  impl.call(op, in_args, out_args);
  size_t k = 0;
  for (const auto& [name, t] : tensors) {
    while (in[k].kind != LOCKSTEP_TENSOR || name != in[k].name) ++k;
    require(call.download(in[k], *t) == *t, "impl " + impl.name(), op,
            fmt::format("wrote its input {} (inputs are read-only)", name));
  }
  Outputs dev = ref;
  detail::OutputFill fill{call, outs.args, 0};
  dev.fields(fill);
  return dev;
}

}  // namespace lockstep::oracle
