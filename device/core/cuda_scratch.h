#pragma once
/// Device buffers for the CUDA launchers: host arrays uploaded on demand, released on scope exit; the
/// first CUDA error is kept and later calls become no-ops. Included by .cu files only.
#include <cuda_runtime.h>

#include <vector>

namespace lockstep::device {

struct CudaScratch {
  std::vector<void*> ptrs;
  cudaError_t err = cudaSuccess;
  template <class U>
  U* upload(const U* host, int64_t n) {
    if (!host || n <= 0 || err != cudaSuccess) return nullptr;
    void* d = nullptr;
    err = cudaMalloc(&d, sizeof(U) * n);
    if (err != cudaSuccess) return nullptr;
    ptrs.push_back(d);
    err = cudaMemcpy(d, host, sizeof(U) * n, cudaMemcpyHostToDevice);
    return static_cast<U*>(d);
  }
  template <class U>
  void download(U* host, const U* dev, int64_t n) {
    if (!host || !dev || n <= 0 || err != cudaSuccess) return;
    err = cudaMemcpy(host, dev, sizeof(U) * n, cudaMemcpyDeviceToHost);
  }
  ~CudaScratch() {
    for (void* p : ptrs) cudaFree(p);
  }
};

}  // namespace lockstep::device
