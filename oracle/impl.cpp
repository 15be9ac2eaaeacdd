#include "oracle/impl.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <tuple>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "oracle/impl_worker.h"
#include "oracle/op.h"

namespace lockstep::oracle {
namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::vector<std::string> split_values(const char* text) {
  std::vector<std::string> out;
  if (text == nullptr) return out;
  std::string cur;
  for (const char* p = text;; ++p) {
    if (*p == ',' || *p == '\0') {
      const size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
      if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  return out;
}

bool parse_int(const std::string& s, int64_t* v) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

bool tensor_has_property(const Tensor& t, const std::string& property) {
  if (t.numel() == 0) return true;
  if (property == "finite") {
    if (!is_floating(t.dtype())) return true;
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.get(i))) return false;
    return true;
  }
  if (property == "distinct") {
    const int64_t row = t.rank() == 0 ? 1 : t.shape().back();
    if (row <= 1) return true;
    std::vector<double> v;
    for (int64_t base = 0; base < t.numel(); base += row) {
      v.clear();
      int nans = 0;
      for (int64_t i = 0; i < row; ++i) {
        const double x = t.get(base + i);
        if (std::isnan(x)) ++nans;
        else v.push_back(x + 0.0);  // -0 + 0 = +0: the two zeros are one value
      }
      if (nans > 1) return false;
      std::sort(v.begin(), v.end());
      if (std::adjacent_find(v.begin(), v.end()) != v.end()) return false;
    }
    return true;
  }
  throw Error("capability", property, "is not an element property (finite, distinct)");
}

std::string Capability::text() const {
  std::string s = field;
  if (kind == tensor_field) {
    std::vector<std::string> parts;
    if (!values.empty()) parts.push_back(fmt::format("dtype in {{{}}}", join(values, ",")));
    if (has_range) parts.push_back(fmt::format("numel in [{}, {}]", min, max));
    if (!properties.empty()) {
      std::vector<std::string> p;
      for (const std::string& x : properties) p.push_back(x == "distinct" ? "distinct per row" : x);
      parts.push_back("elements " + join(p, " and "));
    }
    return s + " " + join(parts, ", ");
  }
  std::vector<std::string> parts;
  if (!values.empty()) parts.push_back(fmt::format(" in {{{}}}", join(values, ",")));
  if (has_range) parts.push_back(fmt::format(" in [{}, {}]", min, max));
  return s + join(parts, " and");
}

bool Capability::accepts(const Record& c) const {
  const FieldValue* v = c.find(field);
  if (v == nullptr) return false;
  auto listed = [&](const std::string& x) { return values.empty() || std::find(values.begin(), values.end(), x) != values.end(); };
  auto in_range = [&](double x) { return !has_range || (x >= static_cast<double>(min) && x <= static_cast<double>(max)); };
  switch (kind) {
    case enum_field: {
      const auto* s = std::get_if<std::string>(v);
      return s != nullptr && listed(*s);
    }
    case int_field: {
      const auto* i = std::get_if<int64_t>(v);
      return i != nullptr && listed(std::to_string(*i)) && (!has_range || (*i >= min && *i <= max));
    }
    case real_field: {
      const auto* d = std::get_if<double>(v);
      return d != nullptr && in_range(*d);
    }
    case tensor_field: {
      const auto* t = std::get_if<Tensor>(v);
      if (t == nullptr) return false;
      if (t->numel() > 0 && !listed(dtype_name(t->dtype()))) return false;
      if (has_range && (t->numel() < min || t->numel() > max)) return false;
      return std::all_of(properties.begin(), properties.end(),
                         [&](const std::string& p) { return tensor_has_property(*t, p); });
    }
  }
  return false;
}

std::string ImplOpSupport::caps_text() const {
  std::vector<std::string> parts;
  for (const Capability& c : caps) parts.push_back(c.text());
  return parts.empty() ? "none" : join(parts, "; ");
}

namespace {

/// A C-ABI plugin (include/lockstep/impl.h), dlopen'ed.
class PluginImpl final : public Impl {
 public:
  explicit PluginImpl(const ImplOptions& o) : Impl(Transport::plugin), options_(o) {}
  ~PluginImpl() override {
    if (handle_ != nullptr) dlclose(handle_);
  }
  static std::shared_ptr<const Impl> load(const std::string& path, const ImplOptions& options);
  void call(const std::string& op, const lockstep_args& in, lockstep_args& out) const override;

 private:
  void call_isolated(const std::string& op, const lockstep_args& in, lockstep_args& out) const;
  double timeout() const { return options_.timeout_s > 0 ? options_.timeout_s : kDefaultImplTimeout; }
  ImplOptions options_;
  void* handle_ = nullptr;
  lockstep_impl_run_fn run_ = nullptr;
  mutable std::mutex mu_;
};

std::shared_ptr<const Impl> PluginImpl::load(const std::string& path, const ImplOptions& options) {
  const std::string flag = "--impl";
  // dlopen searches the library path for a bare name: a plugin is always a file path.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    throw Error(flag, path, fmt::format("cannot load the library: {}", e ? e : "unknown dlopen error"));
  }
  std::shared_ptr<PluginImpl> impl(new PluginImpl(options));
  impl->handle_ = h;
  // Recorded in dumps and repro commands: absolute, so a replay from another directory finds it.
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(file, ec);
  impl->path_ = ec ? path : abs.lexically_normal().string();
  auto symbol = [&](const char* name) {
    void* s = dlsym(h, name);
    require(s != nullptr, flag, path,
            fmt::format("does not export {} (a lockstep plugin exports lockstep_impl_info and lockstep_impl_run "
                        "with C linkage: include/lockstep/impl.h)", name));
    return s;
  };
  auto info = reinterpret_cast<lockstep_impl_info_fn>(symbol("lockstep_impl_info"));
  impl->run_ = reinterpret_cast<lockstep_impl_run_fn>(symbol("lockstep_impl_run"));
  impl->declare(info(), path);
  return impl;
}

/// The bytes of an argument's buffer that travel back from the isolation child (tensors and scalars).
size_t arg_bytes(const lockstep_arg& a) {
  if (a.data == nullptr || a.numel <= 0) return 0;
  if (a.kind == LOCKSTEP_SCALAR) return 8;
  if (a.kind != LOCKSTEP_TENSOR || a.dtype < 0 || a.dtype >= static_cast<int32_t>(EnumNames<DType>::names.size()))
    return 0;
  return static_cast<size_t>(a.numel) * dtype_size(static_cast<DType>(a.dtype));
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

/// Runs the plugin in a forked child: the child calls lockstep_impl_run on the (copy-on-write) buffers
/// and sends back its return code, message and every argument buffer (inputs too, so that the read-only
/// check still sees a write); the parent copies them into the same buffers. A crash or a hang of the
/// plugin is that call's Error.
void PluginImpl::call_isolated(const std::string& op, const lockstep_args& in, lockstep_args& out) const {
  // The buffers as lockstep made them, before the plugin can touch the descriptors.
  std::vector<std::pair<void*, size_t>> bufs;
  for (const lockstep_args* args : {&in, static_cast<const lockstep_args*>(&out)})
    for (int32_t k = 0; k < args->count; ++k) bufs.emplace_back(args->args[k].data, arg_bytes(args->args[k]));
  int p[2];
  require(::pipe2(p, O_CLOEXEC) == 0, "impl " + name_, op, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    throw Error("impl " + name_, op, fmt::format("cannot fork the plugin's process: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    ::close(p[0]);
    char err[1024] = {0};
    const int32_t rc = run_(op.c_str(), &in, &out, err, sizeof err);
    err[sizeof err - 1] = '\0';
    const uint32_t n = static_cast<uint32_t>(std::strlen(err));
    bool ok = write_all(p[1], &rc, sizeof rc) && write_all(p[1], &n, sizeof n) && write_all(p[1], err, n);
    for (const auto& [data, bytes] : bufs) ok = ok && write_all(p[1], data, bytes);
    ::_exit(ok ? 0 : 1);
  }
  ::close(p[1]);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(timeout()));
  // What arrives, in order: rc, message length, message, the buffers.
  int32_t rc = 0;
  uint32_t n = 0;
  std::string msg;
  std::vector<std::pair<void*, size_t>> parts{{&rc, sizeof rc}, {&n, sizeof n}};
  size_t part = 0, at = 0;
  bool timed_out = false, eof = false;
  while (part < parts.size() + 1 + bufs.size()) {
    // Part 2 is the message (its length known from part 1); then the buffers.
    void* dst = nullptr;
    size_t len = 0;
    if (part < 2) std::tie(dst, len) = parts[part];
    else if (part == 2) { msg.resize(std::min<uint32_t>(n, 4096)); dst = msg.data(); len = msg.size(); }
    else std::tie(dst, len) = bufs[part - 3];
    if (at == len) {
      ++part;
      at = 0;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    pollfd pf{p[0], POLLIN, 0};
    const int ms = static_cast<int>(std::min<int64_t>(
        1000, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
    if (::poll(&pf, 1, ms) <= 0) continue;
    const ssize_t r = ::read(p[0], static_cast<char*>(dst) + at, len - at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      eof = true;
      break;
    }
    at += static_cast<size_t>(r);
  }
  ::close(p[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string where = " (the plugin runs in a child process; --impl-in-process runs it in lockstep's)";
  require(!timed_out, "impl " + name_, op,
          fmt::format("lockstep_impl_run did not return within {:g} s (--impl-timeout): killed{}", timeout(), where));
  if (eof || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFSIGNALED(status) ? fmt::format("was killed by signal {} (SIG{})", WTERMSIG(status),
                                                        sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?")
                      : WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                          : "stopped";
    throw Error("impl " + name_, op, fmt::format("the plugin {} in lockstep_impl_run{}", how, where));
  }
  require(rc == 0, "impl " + name_, op,
          fmt::format("lockstep_impl_run returned {}: {}", rc, msg.empty() ? "(no message)" : escape_control(msg)));
}

void PluginImpl::call(const std::string& op, const lockstep_args& in, lockstep_args& out) const {
  if (options_.isolate_plugins && memory_ == device::ImplMemory::host) return call_isolated(op, in, out);
  char err[1024] = {0};
  int rc = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rc = run_(op.c_str(), &in, &out, err, sizeof err);
    if (rc == 0) device::impl_sync(memory_);
  }
  err[sizeof err - 1] = '\0';
  require(rc == 0, "impl " + name_, op,
          fmt::format("lockstep_impl_run returned {}: {}", rc, err[0] ? escape_control(err) : "(no message)"));
}

}  // namespace

std::shared_ptr<const Impl> Impl::load(const std::string& spec, const ImplOptions& options) {
  if (spec.rfind("python:", 0) == 0) return load_python_worker(spec.substr(7), options);
  return PluginImpl::load(spec, options);
}

void Impl::call(const std::string& op, const lockstep_args&, lockstep_args&) const {
  throw Error("impl " + name_, op, "internal error: not a plugin (no C-ABI call)");
}

Record Impl::exchange(const std::string& op, const Record&, const std::vector<ImplOutputSpec>&) const {
  throw Error("impl " + name_, op, "internal error: not a worker (no record exchange)");
}

void Impl::declare(const lockstep_impl_desc* d, const std::string& path) {
  const std::string flag = "--impl";
  require(d != nullptr, flag, path, "lockstep_impl_info() returned NULL");
  require(d->abi_version == LOCKSTEP_IMPL_ABI_VERSION, flag, path,
          fmt::format("plugin ABI version {}, this lockstep speaks version {} (rebuild the plugin against this "
                      "lockstep's include/lockstep/impl.h)", d->abi_version, LOCKSTEP_IMPL_ABI_VERSION));
  require(d->name != nullptr && d->name[0] != '\0', flag, path, "lockstep_impl_info()->name is empty");
  name_ = escape_control(d->name);
  require(d->memory == LOCKSTEP_MEMORY_HOST || d->memory == LOCKSTEP_MEMORY_CUDA, flag, path,
          fmt::format("memory {} is neither LOCKSTEP_MEMORY_HOST (0) nor LOCKSTEP_MEMORY_CUDA (1)", d->memory));
  memory_ = d->memory == LOCKSTEP_MEMORY_CUDA ? device::ImplMemory::cuda : device::ImplMemory::host;
  require(d->num_ops > 0 && d->ops != nullptr, flag, path, "declares no ops (lockstep_impl_info()->num_ops)");
  for (int32_t i = 0; i < d->num_ops; ++i) {
    const lockstep_op_support& s = d->ops[i];
    require(s.op != nullptr, flag, path, fmt::format("ops[{}].op is NULL", i));
    const std::string op_name = escape_control(s.op);
    const Op* op = nullptr;
    try {
      op = &find_op(op_name);
    } catch (const Error& e) {
      throw Error(flag, path, fmt::format("declares op {}: {}", op_name, e.reason()));
    }
    require(op->pluggable(), flag, path,
            fmt::format("declares op {}: its reference and device step together (a stateful run), so an external "
                        "implementation cannot replace its device side", op_name));
    for (const ImplOpSupport& prev : ops_)
      require(prev.op != op_name, flag, path, fmt::format("declares op {} twice", op_name));
    ImplOpSupport sup{op_name, {}};
    const std::vector<FieldInfo> fields = op->case_fields();
    require(s.num_caps >= 0 && (s.num_caps == 0 || s.caps != nullptr), flag, path,
            fmt::format("op {}: num_caps {} without a caps array", op_name, s.num_caps));
    for (int32_t k = 0; k < s.num_caps; ++k) {
      const lockstep_capability& c = s.caps[k];
      const std::string where = fmt::format("op {} capability {}", op_name, k);
      require(c.field != nullptr, flag, path, where + ": field is NULL");
      const std::string field = escape_control(c.field);
      auto it = std::find_if(fields.begin(), fields.end(), [&](const FieldInfo& f) { return f.name == field; });
      if (it == fields.end()) {
        std::vector<std::string> names;
        for (const FieldInfo& f : fields) names.push_back(f.name);
        throw Error(flag, path, fmt::format("{}: {} is not a case field of {} (fields: {})", where, field, op_name,
                                            join(names, ", ")));
      }
      Capability cap;
      cap.field = field;
      cap.values = split_values(c.values);
      for (std::string& v : cap.values) v = escape_control(v);
      cap.has_range = c.min <= c.max;
      cap.min = c.min;
      cap.max = c.max;
      const std::string at = fmt::format("{} ({})", where, field);
      if (it->kind == "enum") {
        cap.kind = Capability::enum_field;
        require(!cap.has_range, flag, path, at + ": an enum field takes a list of names, not a range");
        for (const std::string& v : cap.values)
          require(std::find(it->enum_values.begin(), it->enum_values.end(), v) != it->enum_values.end(), flag, path,
                  fmt::format("{}: {} is not a value of {} (values: {})", at, v, field, join(it->enum_values, ", ")));
      } else if (it->kind == "int") {
        cap.kind = Capability::int_field;
        for (const std::string& v : cap.values) {
          int64_t x = 0;
          require(parse_int(v, &x), flag, path, fmt::format("{}: {} is not an integer", at, v));
        }
      } else if (it->kind == "real") {
        cap.kind = Capability::real_field;
        require(cap.values.empty(), flag, path, at + ": a real field takes a range (min, max), not a list");
      } else if (it->kind == "tensor") {
        cap.kind = Capability::tensor_field;
        std::vector<std::string> dtypes;
        for (const std::string& v : cap.values) {
          if (std::find(kTensorProperties.begin(), kTensorProperties.end(), v) != kTensorProperties.end()) {
            if (std::find(cap.properties.begin(), cap.properties.end(), v) == cap.properties.end())
              cap.properties.push_back(v);
            continue;
          }
          try {
            parse_dtype(v, "");
          } catch (const Error& e) {  // parse_dtype's reason lists the dtypes
            throw Error(flag, path, fmt::format("{}: {}: {}, nor an element property ({})", at, v, e.reason(),
                                                join(kTensorProperties, ", ")));
          }
          dtypes.push_back(v);
        }
        cap.values = std::move(dtypes);
      } else {
        throw Error(flag, path, fmt::format("{}: a {} field cannot be constrained", at, it->kind));
      }
      require(!cap.values.empty() || cap.has_range || !cap.properties.empty(), flag, path,
              at + ": constrains nothing (no values and min > max)");
      sup.caps.push_back(std::move(cap));
    }
    ops_.push_back(std::move(sup));
  }
}

namespace detail {

std::vector<std::string> check_returned(const Record& got, const std::vector<ImplOutputSpec>& wanted) {
  std::vector<std::string> problems;
  auto shape_text = [](DType dt, const std::vector<int64_t>& shape) {
    return fmt::format("{} [{}]", dtype_name(dt), fmt::join(shape, ", "));
  };
  for (const ImplOutputSpec& w : wanted) {
    const FieldValue* v = got.find(w.name);
    if (w.kind == "tensor") {
      const std::string want = shape_text(w.dtype, w.shape);
      if (v == nullptr) {
        problems.push_back(fmt::format("output {} missing (expected {})", w.name, want));
      } else if (const auto* t = std::get_if<Tensor>(v)) {
        if (t->dtype() != w.dtype || t->shape() != w.shape)
          problems.push_back(fmt::format("output {} is {}, expected {}", w.name, shape_text(t->dtype(), t->shape()), want));
      } else {
        problems.push_back(fmt::format("output {} is a scalar, expected a tensor {}", w.name, want));
      }
    } else if (v == nullptr) {
      problems.push_back(fmt::format("output {} missing (expected an {} scalar)", w.name,
                                     w.kind == "int" ? "integer" : "real"));
    } else if (w.kind == "int" ? !std::holds_alternative<int64_t>(*v)
                               : !std::holds_alternative<double>(*v) && !std::holds_alternative<int64_t>(*v)) {
      problems.push_back(fmt::format("output {} is not an {} scalar", w.name, w.kind == "int" ? "integer" : "real"));
    }
  }
  for (const auto& [name, value] : got.fields) {
    const bool asked = std::any_of(wanted.begin(), wanted.end(), [&](const ImplOutputSpec& w) { return w.name == name; });
    if (!asked) {
      std::vector<std::string> names;
      for (const ImplOutputSpec& w : wanted) names.push_back(w.name);
      problems.push_back(fmt::format("returned {}, which is not an output asked for (asked: {})", escape_control(name),
                                     join(names, ", ")));
    }
  }
  return problems;
}

}  // namespace detail

const ImplOpSupport& Impl::support(const std::string& op) const {
  std::vector<std::string> names;
  for (const ImplOpSupport& s : ops_) {
    if (s.op == op) return s;
    names.push_back(s.op);
  }
  throw Error("--impl", path_, fmt::format("plugin {} does not implement op {} (it declares: {})", name_, op,
                                           join(names, ", ")));
}

void Impl::require_memory() const {
  std::string why;
  const bool available = device::impl_memory_available(memory_, &why);  // before `why` is formatted
  require(available, "--impl", path_,
          fmt::format("plugin {} uses CUDA device memory, not available here: {}", name_, why));
}

}  // namespace lockstep::oracle
