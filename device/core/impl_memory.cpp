#include "device/core/impl_memory.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/error.h"
#include "device/core/backend.h"

namespace lockstep::device {

#if LOCKSTEP_HAVE_CUDA
void* cuda_alloc_bytes(size_t bytes);  // backend_cuda.cu
void cuda_free_bytes(void* p);
void cuda_copy_bytes(void* dst, const void* src, size_t bytes, bool to_device);
void cuda_sync_device();

namespace {
/// Runs a CUDA call of backend_cuda.cu; its failure (std::runtime_error) becomes an Error (exit 2, one line).
template <class Fn>
auto cuda_call(Fn&& fn) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw Error("impl memory", "cuda", e.what());
  }
}
}  // namespace
#endif

bool impl_memory_available(ImplMemory m, std::string* why) {
  if (m == ImplMemory::host) return true;
  return cuda_available(why);
}

void* impl_alloc(ImplMemory m, size_t bytes) {
  if (m == ImplMemory::host) {
    void* p = std::malloc(bytes > 0 ? bytes : 1);
    if (p == nullptr) throw Error("impl memory", "host", "cannot allocate " + std::to_string(bytes) + " bytes");
    return p;
  }
#if LOCKSTEP_HAVE_CUDA
  return cuda_call([&] { return cuda_alloc_bytes(bytes > 0 ? bytes : 1); });
#else
  throw Error("impl memory", "cuda", "lockstep was built without nvcc (LOCKSTEP_HAVE_CUDA=0)");
#endif
}

void impl_free(ImplMemory m, void* p) {
  if (p == nullptr) return;
  if (m == ImplMemory::host) {
    std::free(p);
    return;
  }
#if LOCKSTEP_HAVE_CUDA
  cuda_free_bytes(p);
#endif
}

void impl_upload(ImplMemory m, void* dst, const void* host, size_t bytes) {
  if (bytes == 0) return;
  if (m == ImplMemory::host) {
    std::memcpy(dst, host, bytes);
    return;
  }
#if LOCKSTEP_HAVE_CUDA
  cuda_call([&] { cuda_copy_bytes(dst, host, bytes, true); });
#endif
}

void impl_download(ImplMemory m, void* host, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (m == ImplMemory::host) {
    std::memcpy(host, src, bytes);
    return;
  }
#if LOCKSTEP_HAVE_CUDA
  cuda_call([&] { cuda_copy_bytes(host, src, bytes, false); });
#endif
}

void impl_sync(ImplMemory m) {
#if LOCKSTEP_HAVE_CUDA
  if (m == ImplMemory::cuda) cuda_call([] { cuda_sync_device(); });
#else
  (void)m;
#endif
}

}  // namespace lockstep::device
