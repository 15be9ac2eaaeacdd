// The Python worker transport of external implementations (oracle/impl_worker.h).
#include "oracle/impl_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "oracle/h5io.h"

#ifndef LOCKSTEP_SOURCE_DIR
#define LOCKSTEP_SOURCE_DIR ""
#endif

extern char** environ;

namespace lockstep::oracle {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kTailBytes = 8192;                   // stderr kept for reports
constexpr uint64_t kMaxFrame = uint64_t{1} << 34;     // 16 GiB: a length beyond is a garbled frame
constexpr int kProtocol = 1;

std::string fixtures_dir() {
  if (const char* e = std::getenv("LOCKSTEP_FIXTURES")) return e;
  return std::string(LOCKSTEP_SOURCE_DIR) + "/fixtures";
}

/// The interpreter a worker's first line names: `#!/abs/path/python3 ...` (an executable), not `#!/usr/bin/env
/// ...`; "" otherwise.
std::string shebang_python(const fs::path& script) {
  std::FILE* f = std::fopen(script.c_str(), "rb");
  if (f == nullptr) return "";
  char line[512] = {};
  const bool got = std::fgets(line, sizeof line, f) != nullptr;
  std::fclose(f);
  if (!got || line[0] != '#' || line[1] != '!') return "";
  std::string s(line + 2);
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  s = s.substr(b, s.find_first_of(" \t\r\n", b) - b);
  if (s.empty() || s[0] != '/' || fs::path(s).filename() == "env") return "";
  return ::access(s.c_str(), X_OK) == 0 ? s : "";
}

/// LOCKSTEP_PYTHON; else the interpreter of the worker's `#!/abs/path/python` line (not `#!/usr/bin/env`: a
/// worker that needs a system package, e.g. workers/torch_gemma4_routing.py); else the first
/// .venv/bin/python3 from the worker's directory upwards, then the source tree's; else python3 on PATH.
std::string find_python(const fs::path& script) {
  if (const char* e = std::getenv("LOCKSTEP_PYTHON"); e && *e) return e;
  if (std::string s = shebang_python(script); !s.empty()) return s;
  std::error_code ec;
  for (fs::path d = script.parent_path(); !d.empty(); d = d.parent_path()) {
    const fs::path p = d / ".venv" / "bin" / "python3";
    if (fs::exists(p, ec)) return p.string();
    if (d == d.parent_path()) break;
  }
  const fs::path src = fs::path(LOCKSTEP_SOURCE_DIR) / ".venv" / "bin" / "python3";
  if (!std::string(LOCKSTEP_SOURCE_DIR).empty() && fs::exists(src, ec)) return src.string();
  return "python3";
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return fmt::format("was killed by signal {} (SIG{})", WTERMSIG(status), abbrev ? abbrev : "?");
  }
  return fmt::format("stopped (status {})", status);
}

class WorkerImpl final : public Impl {
 public:
  WorkerImpl(fs::path script, ImplOptions options)
      : Impl(Transport::python), script_(std::move(script)), options_(options), python_(find_python(script_)) {
    path_ = "python:" + script_.string();
  }
  ~WorkerImpl() override { stop(false); }

  double timeout() const {
    return options_.timeout_s > 0 ? options_.timeout_s : declared_timeout_ > 0 ? declared_timeout_ : kDefaultImplTimeout;
  }

  /// Starts the worker and takes its declaration (the first start: load()).
  void start_and_declare() {
    const std::string hello = start(options_.startup_timeout_s);
    hello_ = hello;
    declare_from(hello);
  }

  Record exchange(const std::string& op, const Record& case_fields,
                  const std::vector<ImplOutputSpec>& wanted) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string who = "impl " + name_;
    if (pid_ < 0) {
      const std::string hello = start(options_.startup_timeout_s);
      require(hello == hello_, who, op,
              "the restarted worker declared itself differently from its first start (name, ops or capabilities)");
    }
    h5::Dump d;
    d.kind = "case";
    d.op = op;
    d.case_fields = case_fields;
    nlohmann::ordered_json spec = nlohmann::ordered_json::array();
    for (const ImplOutputSpec& w : wanted) {
      nlohmann::ordered_json e{{"name", w.name}, {"kind", w.kind}};
      if (w.kind == "tensor") {
        e["dtype"] = dtype_name(w.dtype);
        e["shape"] = w.shape;
      }
      spec.push_back(std::move(e));
    }
    d.info.emplace_back("lockstep_outputs", spec.dump());
    const std::string image = h5::write_image(d, "case sent to the worker");
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(timeout()));
    Frame f = transfer(frame("CASE", image), deadline, fmt::format("within {:g} s (--impl-timeout)", timeout()),
                       who, op);
    if (f.tag == "FAIL") throw Error(who, op, "raised: " + escape_control(f.payload));
    if (f.tag != "OUTS") {
      stop(true);
      throw Error(who, op, fmt::format("answered with a {} frame, expected OUTS or FAIL (worker stopped)",
                                       escape_control(f.tag)));
    }
    h5::Dump out;
    try {
      out = h5::read_image(f.payload.data(), f.payload.size(), "outputs of the worker");
    } catch (const Error& e) {
      throw Error(who, op, std::string("returned an unreadable HDF5 image: ") + e.what());
    }
    for (auto& [name, rec] : out.outputs)
      if (name == "impl") return std::move(rec);
    throw Error(who, op, "returned no /outputs/impl record");
  }

 private:
  struct Frame {
    std::string tag, payload;
  };

  static std::string frame(const char* tag, const std::string& payload) {
    std::string s(tag, 4);
    uint64_t n = payload.size();
    unsigned char len[8];
    for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>(n >> (8 * k));
    s.append(reinterpret_cast<const char*>(len), 8);
    return s + payload;
  }

  void declare_from(const std::string& hello) {
    const std::string where = path_;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(hello);
    } catch (const std::exception& e) {
      throw Error("--impl", where, std::string("the worker's declaration is not JSON: ") + e.what());
    }
    auto text = [&](const nlohmann::json& o, const char* key) -> std::string {
      require(o.is_object() && o.contains(key) && o.at(key).is_string(), "--impl", where,
              fmt::format("the worker's declaration lacks the string {}", key));
      return o.at(key).get<std::string>();
    };
    require(j.is_object() && j.value("protocol", 0) == kProtocol, "--impl", where,
            fmt::format("the worker speaks protocol {}, this lockstep {} (use this lockstep's fixtures/lockstep_worker.py)",
                        j.is_object() && j.contains("protocol") ? j["protocol"].dump() : "none", kProtocol));
    std::deque<std::string> strings;
    std::vector<std::vector<lockstep_capability>> caps;
    std::vector<lockstep_op_support> ops;
    auto keep = [&](std::string s) { return strings.emplace_back(std::move(s)).c_str(); };
    const char* name = keep(text(j, "name"));
    if (j.contains("timeout_s")) {
      require(j["timeout_s"].is_number() && j["timeout_s"].get<double>() > 0, "--impl", where,
              "the worker's timeout_s is not a positive number");
      declared_timeout_ = j["timeout_s"].get<double>();
    }
    require(j.contains("ops") && j["ops"].is_array(), "--impl", where, "the worker's declaration lacks the list ops");
    caps.reserve(j["ops"].size());
    for (const auto& o : j["ops"]) {
      const char* op = keep(text(o, "op"));
      std::vector<lockstep_capability>& cs = caps.emplace_back();
      if (o.contains("capabilities")) {
        require(o["capabilities"].is_array(), "--impl", where, fmt::format("op {}: capabilities is not a list", op));
        for (const auto& c : o["capabilities"]) {
          lockstep_capability cap{};
          cap.field = keep(text(c, "field"));
          std::string values;
          if (c.contains("values")) {
            require(c["values"].is_array(), "--impl", where, fmt::format("op {}: values of {} is not a list", op, cap.field));
            for (const auto& v : c["values"]) values += (values.empty() ? "" : ",") + (v.is_string() ? v.get<std::string>() : v.dump());
          }
          cap.values = values.empty() ? nullptr : keep(values);
          cap.min = 0;
          cap.max = -1;
          if (c.contains("min") || c.contains("max")) {
            require(c.value("min", nlohmann::json()).is_number_integer() && c.value("max", nlohmann::json()).is_number_integer(),
                    "--impl", where, fmt::format("op {}: capability {} needs integer min and max", op, cap.field));
            cap.min = c["min"].get<int64_t>();
            cap.max = c["max"].get<int64_t>();
            require(cap.min <= cap.max, "--impl", where,
                    fmt::format("op {}: capability {} has min {} > max {}", op, cap.field, cap.min, cap.max));
          }
          cs.push_back(cap);
        }
      }
      ops.push_back({op, cs.empty() ? nullptr : cs.data(), static_cast<int32_t>(cs.size())});
    }
    const lockstep_impl_desc desc{LOCKSTEP_IMPL_ABI_VERSION, name, LOCKSTEP_MEMORY_HOST,
                                  ops.empty() ? nullptr : ops.data(), static_cast<int32_t>(ops.size())};
    declare(&desc, where);
  }

  /// Spawns the worker and returns its HELO payload; Error when it does not come.
  std::string start(double timeout_s) const {
    int sv[2];
    require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "--impl", path_,
            fmt::format("cannot create the worker socket: {}", std::strerror(errno)));
    int ep[2];
    if (::pipe2(ep, O_CLOEXEC) != 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      throw Error("--impl", path_, fmt::format("cannot create the worker's stderr pipe: {}", std::strerror(errno)));
    }
    // Everything the child needs, built before fork (only async-signal-safe calls after it).
    const std::string bootstrap =
        "import sys; sys.path.insert(0, sys.argv[1]); import lockstep_worker; lockstep_worker.main(sys.argv[2])";
    const std::string fix = fixtures_dir();
    std::vector<std::string> args{python_, "-c", bootstrap, fix, script_.string()};
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
      const std::string s = *e;
      if (s.rfind("LOCKSTEP_WORKER_FD=", 0) == 0 || s.rfind("PYTHONUNBUFFERED=", 0) == 0) continue;
      env.push_back(s);
    }
    env.push_back("LOCKSTEP_WORKER_FD=3");
    env.push_back("PYTHONUNBUFFERED=1");
    std::vector<char*> argv, envp;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    const bool search = python_.find('/') == std::string::npos;
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (int fd : {sv[0], sv[1], ep[0], ep[1]}) ::close(fd);
      throw Error("--impl", path_, fmt::format("cannot fork the worker: {}", std::strerror(errno)));
    }
    if (pid == 0) {
      ::setpgid(0, 0);  // its own process group: killed as a whole; Ctrl-C on lockstep's terminal is lockstep's
      const int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(ep[1], 1);
      ::dup2(ep[1], 2);
      ::dup2(sv[1], 3);
      ::close_range(4, ~0U, 0);
      ::signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the launcher (cli/launcher.cpp) blocks some
      if (search) ::execvpe(argv[0], argv.data(), envp.data());
      else ::execve(argv[0], argv.data(), envp.data());
      const char msg[] = "lockstep: cannot execute the worker's Python interpreter\n";
      [[maybe_unused]] ssize_t w = ::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::setpgid(pid, pid);
    ::close(sv[1]);
    ::close(ep[1]);
    pid_ = pid;
    fd_ = sv[0];
    err_fd_ = ep[0];
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
    tail_.clear();
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    const Frame f = transfer("", deadline, fmt::format("to declare itself within {:g} s", timeout_s), "--impl", path_,
                             " before declaring itself (python: " + python_ + ")");
    if (f.tag != "HELO") {
      stop(true);
      throw Error("--impl", path_, fmt::format("the worker's first frame is {}, expected HELO", escape_control(f.tag)));
    }
    return f.payload;
  }

  /// Ends the worker: closes its socket (it exits on EOF) and, when `kill` or when it does not exit within
  /// a second, kills its process group.
  void stop(bool kill) const {
    if (pid_ < 0) return;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    int status = 0;
    bool reaped = false;
    if (!kill) {
      for (int i = 0; i < 100 && !reaped; ++i) {
        reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
        if (!reaped) ::usleep(10000);
      }
    }
    if (!reaped) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
    err_fd_ = -1;
    pid_ = -1;
  }

  void drain_stderr() const {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n <= 0) return;
      tail_.append(buf, static_cast<size_t>(n));
      if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
    }
  }

  /// The last few non-empty lines the worker wrote to stdout/stderr, for a report.
  std::string tail_text() const {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < tail_.size()) {
      size_t end = tail_.find('\n', start);
      if (end == std::string::npos) end = tail_.size();
      std::string line = tail_.substr(start, end - start);
      if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
      start = end + 1;
    }
    if (lines.empty()) return "";
    std::string s;
    for (size_t k = lines.size() > 3 ? lines.size() - 3 : 0; k < lines.size(); ++k)
      s += (s.empty() ? "" : " | ") + lines[k];
    if (s.size() > 600) s = "..." + s.substr(s.size() - 600);
    return "; its last output: " + escape_control(s);
  }

  /// The worker died: reap it, collect its last output, stop; returns "exited with status 1 WHEN; its last ...".
  std::string died(const std::string& when) const {
    int status = 0;
    const auto until = Clock::now() + std::chrono::milliseconds(2000);
    bool reaped = false;
    while (!reaped && Clock::now() < until) {
      drain_stderr();
      reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
      if (!reaped) ::usleep(5000);
    }
    drain_stderr();
    std::string what = (reaped ? describe_status(status) : "closed its socket") + when;
    const std::string tail = tail_text();
    if (!reaped) stop(true);
    else {
      ::close(fd_);
      ::close(err_fd_);
      fd_ = err_fd_ = -1;
      pid_ = -1;
    }
    return what + tail;
  }

  /// Sends `out` (may be empty) and reads one frame, draining the worker's stderr meanwhile. The worker
  /// dying or missing `deadline` throws Error(field, value, ...) after stopping it.
  Frame transfer(const std::string& out, Clock::time_point deadline, const std::string& limit_text,
                 const std::string& field, const std::string& value, const std::string& when = " while running the case") const {
    size_t sent = 0;
    std::string in;
    uint64_t need = 12;
    bool have_header = false;
    Frame f;
    for (;;) {
      const auto now = Clock::now();
      if (now >= deadline) {
        drain_stderr();
        const std::string tail = tail_text();
        stop(true);
        throw Error(field, value, fmt::format("the worker did not answer {} (killed; the next case starts a new one){}",
                                              limit_text, tail));
      }
      const int ms = static_cast<int>(
          std::min<int64_t>(1000, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
      pollfd p[2] = {{fd_, static_cast<short>(POLLIN | (sent < out.size() ? POLLOUT : 0)), 0}, {err_fd_, POLLIN, 0}};
      const int r = ::poll(p, err_fd_ >= 0 ? 2 : 1, ms);
      if (r < 0 && errno == EINTR) continue;
      if (p[1].revents & (POLLIN | POLLHUP)) drain_stderr();
      if (sent < out.size() && (p[0].revents & POLLOUT)) {
        const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent += static_cast<size_t>(n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) throw Error(field, value, "the worker " + died(when));
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[1 << 16];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) throw Error(field, value, "the worker " + died(when));
        if (n > 0) in.append(buf, static_cast<size_t>(n));
        if (!have_header && in.size() >= 12) {
          f.tag = in.substr(0, 4);
          need = 0;
          for (int k = 7; k >= 0; --k) need = (need << 8) | static_cast<unsigned char>(in[4 + k]);
          if (need > kMaxFrame) {
            stop(true);
            throw Error(field, value, fmt::format("the worker sent a garbled frame (tag {}, length {}); stopped",
                                                  escape_control(f.tag), need));
          }
          need += 12;
          have_header = true;
        }
        if (have_header && in.size() >= need) {
          if (in.size() > need) {
            stop(true);
            throw Error(field, value, "the worker sent more than one frame for one request; stopped");
          }
          f.payload = in.substr(12);
          return f;
        }
      }
    }
  }

  fs::path script_;
  ImplOptions options_;
  std::string python_;
  std::string hello_;
  double declared_timeout_ = 0;  ///< the worker's own per-case limit (HELO "timeout_s"; 0 = none)
  mutable std::mutex mu_;
  mutable pid_t pid_ = -1;
  mutable int fd_ = -1, err_fd_ = -1;
  mutable std::string tail_;
};

}  // namespace

std::shared_ptr<const Impl> load_python_worker(const std::string& script, const ImplOptions& options) {
  std::error_code ec;
  require(fs::is_regular_file(script, ec), "--impl", "python:" + script, "no such worker script (a regular file)");
  const fs::path abs = fs::absolute(script, ec).lexically_normal();
  auto w = std::make_shared<WorkerImpl>(ec ? fs::path(script) : abs, options);
  w->start_and_declare();
  return w;
}

}  // namespace lockstep::oracle
