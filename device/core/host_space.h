#pragma once
/// Host memory as a space of the generic upload -> launch -> download routine (device/core/staged_launch.h):
/// the CUDA path's bookkeeping run on the CPU (Backend::staged). Each buffer is its own allocation of
/// exactly its declared bytes between two guard regions; uploaded bytes are copied in, allocated buffers
/// (out, scratch) are poisoned; the launch runs the CPU launcher on these buffers. After the launch every
/// guard must be intact and every `in` buffer unchanged, else error() names the buffer. So a download that
/// is missing, an `out` declared `in`, an `inout` declared `out` (its kept elements come back poisoned) or a
/// count too small (a write past the buffer hits its guard; a read sees guard bytes) changes the outputs
/// or fails the run instead of passing silently.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "device/core/cpu_launch.h"
#include "device/core/staged_launch.h"

namespace lockstep::device {

/// Runs the kernel body on the CPU launcher: `blocks` blocks over `threads` workers, then the items in order.
template <class Params>
void cpu_run(const Params& params, const LaunchGrid& grid, int threads) {
  cpu_launch(params, grid.blocks, grid.smem_bytes, threads,
             [](const Params& p, const BlockCtx& ctx, int64_t b, unsigned char* smem) { kernel_block(p, ctx, b, smem); });
  if constexpr (HasKernelItem<Params>::value) {
    for (int64_t e = 0; e < grid.items; ++e) kernel_item(params, e);
  }
}

class HostSpace {
 public:
  static constexpr size_t kGuardBytes = 64;
  static constexpr unsigned char kGuard = 0x5A;
  static constexpr unsigned char kPoison = 0xA5;

  explicit HostSpace(int cpu_threads = 1) : threads_(cpu_threads) {}

  /// `read_only`: an `in` buffer, which must be unchanged after the launch.
  void* upload(const void* host, size_t bytes, bool read_only) {
    Buffer& b = add(bytes, read_only ? "in" : "inout");
    if (bytes > 0) std::memcpy(b.data(), host, bytes);
    if (read_only) b.source = host;
    return b.data();
  }
  void* alloc(size_t bytes) {
    Buffer& b = add(bytes, "out/scratch");
    std::memset(b.data(), kPoison, bytes);
    return b.data();
  }
  void download(void* host, const void* dev, size_t bytes) {
    if (bytes > 0) std::memcpy(host, dev, bytes);
  }

  template <class Params>
  void launch(const Params& params, const LaunchGrid& grid) {
    cpu_run(params, grid, threads_);
    check();
  }

  bool ok() const { return error_.empty(); }
  std::string error() const { return error_; }

 private:
  struct Buffer {
    std::unique_ptr<unsigned char[]> mem;
    size_t bytes = 0;
    const char* kind = "";
    const void* source = nullptr;  // `in` buffers: the host bytes copied in (unchanged during the run)
    unsigned char* data() const { return mem.get() + kGuardBytes; }
  };

  Buffer& add(size_t bytes, const char* kind) {
    auto b = std::make_unique<Buffer>();
    b->mem.reset(new unsigned char[bytes + 2 * kGuardBytes]);
    b->bytes = bytes;
    b->kind = kind;
    std::memset(b->mem.get(), kGuard, kGuardBytes);
    std::memset(b->data() + bytes, kGuard, kGuardBytes);
    buffers_.push_back(std::move(b));
    return *buffers_.back();
  }

  /// Buffer i (in the order buffers() declares them) with its kind and size, for the error.
  std::string name(size_t i) const {
    const Buffer& b = *buffers_[i];
    return "staged buffer " + std::to_string(i) + " (" + b.kind + ", " + std::to_string(b.bytes) + " bytes)";
  }

  void check() {
    for (size_t i = 0; i < buffers_.size(); ++i) {
      const Buffer& b = *buffers_[i];
      for (size_t g = 0; g < kGuardBytes; ++g) {
        if (b.mem[g] != kGuard) {
          error_ = name(i) + ": guard before it overwritten at byte -" + std::to_string(kGuardBytes - g);
          return;
        }
        if (b.data()[b.bytes + g] != kGuard) {
          error_ = name(i) + ": guard after it overwritten at byte +" + std::to_string(g) + " (declared count too small?)";
          return;
        }
      }
      if (b.source && b.bytes > 0 && std::memcmp(b.source, b.data(), b.bytes) != 0) {
        error_ = name(i) + ": declared in, but the kernel wrote it (declare it inout or out)";
        return;
      }
    }
  }

  int threads_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::string error_;
};

}  // namespace lockstep::device
