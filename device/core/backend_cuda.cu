#include <string>

#include <cuda_runtime.h>

namespace lockstep::device {

bool cuda_runtime_available(std::string* why) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice || (err == cudaSuccess && n == 0)) {
    if (why) *why = std::string("no CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return false;
  }
  if (err != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace lockstep::device

// ---- plugin memory (device/core/impl_memory.cpp): plain allocations and copies, errors as std::runtime_error
// messages turned into lockstep Errors by the caller's wording ----
#include <stdexcept>

namespace lockstep::device {
namespace {
void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("impl memory cuda: ") + what + ": " + cudaGetErrorString(err));
  }
}
}  // namespace

void* cuda_alloc_bytes(size_t bytes) {
  void* p = nullptr;
  check_cuda(cudaMalloc(&p, bytes), "cudaMalloc");
  return p;
}
void cuda_free_bytes(void* p) { cudaFree(p); }
void cuda_copy_bytes(void* dst, const void* src, size_t bytes, bool to_device) {
  check_cuda(cudaMemcpy(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost), "cudaMemcpy");
}
void cuda_sync_device() { check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize (after the plugin's run)"); }

}  // namespace lockstep::device
