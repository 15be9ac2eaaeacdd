// Reading untrusted HDF5 files in a child process: libhdf5 1.10 crashes (H5HG_read, H5C_protect, the
// close path) or loops on some corrupted files, and nothing lockstep checks beforehand can prevent that.
// The child parses with memory and CPU limits and sends the Dump (or its Error) back through a pipe; a
// child that dies, hangs or answers garbage becomes one Error naming the file.
#include "oracle/h5io_isolate.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep::h5 {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// ---- wire format: little-endian host integers, length-prefixed strings ------------------------------

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void i64(int64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void f64(double v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    i64(static_cast<int64_t>(s.size()));
    out_ += s;
  }
  void bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void record(const Record& r) {
    i64(static_cast<int64_t>(r.fields.size()));
    for (const auto& [name, value] : r.fields) {
      str(name);
      u8(static_cast<uint8_t>(value.index()));
      if (auto* i = std::get_if<int64_t>(&value)) i64(*i);
      if (auto* d = std::get_if<double>(&value)) f64(*d);
      if (auto* s = std::get_if<std::string>(&value)) str(*s);
      if (auto* t = std::get_if<Tensor>(&value)) {
        u8(static_cast<uint8_t>(t->dtype()));
        i64(static_cast<int64_t>(t->rank()));
        for (size_t k = 0; k < t->rank(); ++k) i64(t->dim(k));
        bytes(t->raw(), t->nbytes());
      }
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const std::string& in, const std::string& path) : in_(in), path_(path) {}
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(in_[pos_++]);
  }
  int64_t i64() { return scalar<int64_t>(); }
  double f64() { return scalar<double>(); }
  std::string str() {
    const int64_t n = count();
    need(static_cast<size_t>(n));
    std::string s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  /// A non-negative count that fits in what is left.
  int64_t count() {
    const int64_t n = i64();
    if (n < 0 || static_cast<uint64_t>(n) > in_.size() - pos_) garbled();
    return n;
  }
  Record record() {
    Record r;
    const int64_t n = count();
    for (int64_t k = 0; k < n; ++k) {
      std::string name = str();
      switch (u8()) {
        case 0: r.fields.emplace_back(std::move(name), i64()); break;
        case 1: r.fields.emplace_back(std::move(name), f64()); break;
        case 2: r.fields.emplace_back(std::move(name), str()); break;
        case 3: r.fields.emplace_back(std::move(name), tensor()); break;
        default: garbled();
      }
    }
    return r;
  }
  bool done() const { return pos_ == in_.size(); }
  [[noreturn]] void garbled() const {
    throw Error(path_, "", "internal error: garbled answer from the HDF5 reading process");
  }

 private:
  Tensor tensor() {
    const uint8_t dt = u8();
    if (dt >= EnumNames<DType>::names.size()) garbled();
    const int64_t rank = count();
    if (rank > kMaxRank) garbled();
    if (rank == 0) return Tensor();  // an absent (default) tensor
    Shape shape(static_cast<size_t>(rank));
    int64_t numel = 1;
    for (auto& d : shape) {
      d = i64();
      if (d < 0 || d > kMaxDim) garbled();
      numel = d == 0 || numel == 0 ? 0 : numel * d;
      if (numel > kMaxElements) garbled();
    }
    const auto dtype = static_cast<DType>(dt);
    const auto nbytes = static_cast<size_t>(numel) * dtype_size(dtype);
    need(nbytes);
    Tensor t(dtype, std::move(shape));
    if (t.nbytes() != nbytes) garbled();
    if (nbytes > 0) std::memcpy(t.raw(), in_.data() + pos_, nbytes);
    pos_ += nbytes;
    return t;
  }
  template <class T>
  T scalar() {
    T v;
    need(sizeof v);
    std::memcpy(&v, in_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  void need(size_t n) const {
    if (n > in_.size() - pos_) garbled();
  }
  const std::string& in_;
  const std::string& path_;
  size_t pos_ = 0;
};

enum : uint8_t { kAnswerDump = 1, kAnswerError = 2 };

std::string encode_error(const Error& e) {
  Writer w;
  w.u8(kAnswerError);
  w.str(e.field());
  w.str(e.value());
  w.str(e.reason());
  return w.take();
}

// ---- the child -------------------------------------------------------------------------------------

/// Virtual memory the process maps now (bytes), 0 when unknown.
uint64_t current_address_space() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long pages = 0;
  const int n = std::fscanf(f, "%llu", &pages);
  std::fclose(f);
  return n == 1 ? pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

[[noreturn]] void child_main(int fd, const std::string& path, const ReadOptions& options) {
  // Ctrl-C / SIGTERM reach the whole process group: the child just dies, the parent reports.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGPIPE, SIG_DFL);
  // The child says nothing on the terminal: glibc's "free(): invalid pointer" before an abort inside
  // libhdf5 would otherwise add a second line to the one error the parent prints.
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
  }
  rlimit core{0, 0};
  setrlimit(RLIMIT_CORE, &core);
  const auto cpu = static_cast<rlim_t>(std::ceil(options.timeout_s));
  rlimit cpu_limit{cpu, cpu + 1};
  setrlimit(RLIMIT_CPU, &cpu_limit);
  if (!kAddressSanitizer) {
    // Room for the file's budget three times over (HDF5's buffers, the Dump, its encoding) + 512 MiB.
    const uint64_t as = current_address_space() + 3 * static_cast<uint64_t>(options.limits.max_bytes) +
                        (uint64_t{512} << 20);
    rlimit as_limit{static_cast<rlim_t>(as), static_cast<rlim_t>(as)};
    setrlimit(RLIMIT_AS, &as_limit);
  }
  std::string answer;
  try {
    Dump d = read_file_unlocked(path, options.limits);
    answer = encode_dump(d);
  } catch (const Error& e) {
    answer = encode_error(e);
  } catch (const std::bad_alloc&) {
    answer = encode_error(Error(path, "", "out of memory while reading the file"));
  } catch (const std::exception& e) {
    answer = encode_error(Error(path, "", std::string("internal error while reading: ") + e.what()));
  }
  write_all(fd, answer);
  ::_exit(0);
}

// ---- the parent ------------------------------------------------------------------------------------

/// `how` is "crashed" or "timed out", `detail` the signal or the limit.
Error corrupt(const std::string& path, const std::string& how, const std::string& detail) {
  return Error(path, "", "corrupt HDF5 file (the HDF5 library " + how + " reading it: " + detail + ")");
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 0;
  }
  return status;
}

}  // namespace

std::string encode_dump(const Dump& d) {
  Writer w;
  w.u8(kAnswerDump);
  w.str(d.kind);
  w.str(d.op);
  w.record(d.case_fields);
  w.i64(static_cast<int64_t>(d.outputs.size()));
  for (const auto& [name, rec] : d.outputs) {
    w.str(name);
    w.record(rec);
  }
  w.i64(static_cast<int64_t>(d.info.size()));
  for (const auto& [k, v] : d.info) {
    w.str(k);
    w.str(v);
  }
  w.str(d.report_json);
  return w.take();
}

Dump decode_dump(const std::string& bytes, const std::string& path) {
  Reader r(bytes, path);
  const uint8_t tag = r.u8();
  if (tag == kAnswerError) {
    std::string field = r.str(), value = r.str(), reason = r.str();
    if (!r.done()) r.garbled();
    throw Error(std::move(field), std::move(value), reason);
  }
  if (tag != kAnswerDump) r.garbled();
  Dump d;
  d.kind = r.str();
  d.op = r.str();
  d.case_fields = r.record();
  const int64_t n_out = r.count();
  for (int64_t k = 0; k < n_out; ++k) {
    std::string name = r.str();
    d.outputs.emplace_back(std::move(name), r.record());
  }
  const int64_t n_info = r.count();
  for (int64_t k = 0; k < n_info; ++k) {
    std::string key = r.str();
    d.info.emplace_back(std::move(key), r.str());
  }
  d.report_json = r.str();
  if (!r.done()) r.garbled();
  return d;
}

Dump read_file_isolated(const std::string& path, const ReadOptions& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw Error(path, "", std::string("cannot start the HDF5 reading process: ") + std::strerror(errno));
  }
  pid_t pid;
  {
    // No other thread is inside HDF5 (or holds this lock) at the fork: the child runs unlocked.
    std::lock_guard<std::mutex> lock(hdf5_io_mutex());
    pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      child_main(fds[1], path, options);
    }
  }
  ::close(fds[1]);
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    throw Error(path, "", std::string("cannot start the HDF5 reading process: ") + std::strerror(err));
  }

  auto kill_child = [&] {
    ::kill(pid, SIGKILL);
    ::close(fds[0]);
    wait_child(pid);
  };
  auto interrupted = [&] { return options.interrupted != nullptr && options.interrupted->load(); };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options.timeout_s);
  // The answer holds at most the file's byte budget plus names and strings.
  const size_t cap = static_cast<size_t>(options.limits.max_bytes) + (size_t{64} << 20);
  std::string answer;
  char buf[1 << 16];
  for (;;) {
    if (interrupted()) {
      kill_child();
      throw Interrupted();
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill_child();
      throw corrupt(path, "timed out", fmt::format("{:g} s", options.timeout_s));
    }
    pollfd p{fds[0], POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (rc < 0 && errno != EINTR) {
      kill_child();
      throw Error(path, "", std::string("internal error waiting for the HDF5 reading process: ") + std::strerror(errno));
    }
    if (rc <= 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EOF (or an error: the status below decides)
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() > cap) {
      kill_child();
      throw Error(path, "", "internal error: the HDF5 reading process answered more than its budget");
    }
  }
  ::close(fds[0]);
  const int status = wait_child(pid);
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if ((sig == SIGINT || sig == SIGTERM) && interrupted()) throw Interrupted();
    if (sig == SIGXCPU || sig == SIGKILL) {
      throw corrupt(path, "timed out", fmt::format("{:g} s of CPU", options.timeout_s));
    }
    throw corrupt(path, "crashed",
                  sigabbrev_np(sig) != nullptr ? fmt::format("SIG{}", sigabbrev_np(sig)) : fmt::format("signal {}", sig));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || answer.empty()) {
    throw corrupt(path, "crashed", fmt::format("exit status {}", WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  }
  return decode_dump(answer, path);
}

}  // namespace lockstep::h5
