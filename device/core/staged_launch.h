#pragma once
/// The one upload -> launch -> download routine, generic over the memory space the kernel runs in (CUDA
/// device memory: device/core/cuda_launch.cuh; guarded host memory: device/core/host_space.h). Compiled by
/// nvcc and by the host compiler: no CUDA API here, no heavy headers.
///
/// A kernel's Params describe themselves once:
///
///   struct MyParams {
///     const int32_t* ids; int32_t* out; OobLog oob; int64_t n;
///     template <class V> void buffers(V& v) { v.in(ids, n); v.out(out, n); oob.buffers(v); }
///   };
///   LS_HD void kernel_block(const MyParams&, const BlockCtx&, int64_t block, unsigned char* smem);  // ADL
///   LS_HD void kernel_item(const MyParams&, int64_t item);  // optional: LaunchGrid::items
///
/// Buffer kinds (n = element count of the pointer's type; a null host pointer stays null):
///   in(p, n)       uploaded, never downloaded (the kernel only reads it)
///   inout(p, n)    uploaded and downloaded (the kernel leaves some elements as the host set them)
///   out(p, n)      allocated uninitialised and downloaded (the kernel writes every element)
///   scratch(p, n)  allocated uninitialised, never downloaded (also when the host pointer is null)
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "device/core/portability.h"

namespace lockstep::device {

/// How one kernel is launched: `blocks` blocks of `kernel_block` (`threads` threads each on the GPU, one
/// emulated thread on the CPU) with `smem_bytes` of dynamic shared memory, then — after every block has
/// finished — `items` work items of `kernel_item` (grid-stride on the GPU; on the CPU in item order, one
/// thread: items may write the same memory, e.g. RPA tokens sharing a page, and the CPU run must be one
/// fixed order).
struct LaunchGrid {
  int64_t blocks = 0;
  int threads = 128;
  int64_t smem_bytes = 0;
  /// What needs the shared memory and how to need less, for the error when the device cannot provide it:
  /// "<smem_user> needs N bytes of shared memory, device allows M<smem_hint>".
  const char* smem_user = "the kernel";
  const char* smem_hint = "";
  int64_t items = 0;
};

/// Params whose launch has a follow-up item kernel (C++17 detection: nvcc compiles this header as C++17).
template <class Params, class = void>
struct HasKernelItem : std::false_type {};
template <class Params>
struct HasKernelItem<Params, std::void_t<decltype(kernel_item(std::declval<const Params&>(), int64_t{0}))>>
    : std::true_type {};

/// Params that run on the host whatever the backend (a startup computation the engine itself runs on the
/// CPU) declare `static constexpr bool kHostOnly = true;`.
template <class Params, class = void>
struct HostOnlyKernel : std::false_type {};
template <class Params>
struct HostOnlyKernel<Params, std::void_t<decltype(Params::kHostOnly)>> : std::bool_constant<Params::kHostOnly> {};

/// The visitor that moves a copy of the Params into a memory space: every pointer is replaced by the
/// space's buffer; downloads are remembered and done after the launch.
///
/// A Space provides: void* upload(const void* host, size_t bytes, bool read_only); void* alloc(size_t bytes);
/// void download(void* host, const void* dev, size_t bytes); template <class P> void launch(const P&,
/// const LaunchGrid&); bool ok() const; std::string error() const. Each call is a no-op once !ok().
template <class Space>
class Stager {
 public:
  explicit Stager(Space& space) : space_(space) {}

  template <class U>
  void in(U*& p, int64_t n) {
    if (p) p = static_cast<U*>(space_.upload(p, bytes<U>(n), /*read_only=*/true));
  }
  template <class U>
  void inout(U*& p, int64_t n) {
    static_assert(!std::is_const_v<U>, "a downloaded buffer needs a non-const pointer");
    if (!p) return;
    U* host = p;
    p = static_cast<U*>(space_.upload(host, bytes<U>(n), /*read_only=*/false));
    downloads_.push_back({host, p, bytes<U>(n)});
  }
  template <class U>
  void out(U*& p, int64_t n) {
    static_assert(!std::is_const_v<U>, "a downloaded buffer needs a non-const pointer");
    if (!p) return;
    U* host = p;
    p = static_cast<U*>(space_.alloc(bytes<U>(n)));
    downloads_.push_back({host, p, bytes<U>(n)});
  }
  template <class U>
  void scratch(U*& p, int64_t n) {
    p = static_cast<U*>(space_.alloc(bytes<U>(n)));
  }

  void download_all() {
    for (const Download& d : downloads_) space_.download(d.host, d.dev, d.bytes);
  }

 private:
  struct Download {
    void* host;
    const void* dev;
    size_t bytes;
  };
  template <class U>
  static size_t bytes(int64_t n) {
    return n > 0 ? sizeof(U) * static_cast<size_t>(n) : 0;
  }
  Space& space_;
  std::vector<Download> downloads_;
};

/// Upload -> launch -> download of `host` (Params holding host pointers) in `space`. The outputs land in
/// the host buffers; the first error is the space's error().
template <class Space, class Params>
void run_staged(Space& space, const Params& host, const LaunchGrid& grid) {
  Params dev = host;
  Stager<Space> stager(space);
  dev.buffers(stager);
  if (!space.ok()) return;
  space.launch(dev, grid);
  if (!space.ok()) return;
  stager.download_all();
}

}  // namespace lockstep::device
