#pragma once
/// Device buffers for the CUDA launchers (included only by .cu files): host arrays are uploaded,
/// results downloaded, everything freed on scope exit; the first CUDA error is kept.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
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
  /// Uninitialised device buffer of n elements (null for n <= 0).
  template <class U>
  U* alloc(int64_t n) {
    if (n <= 0 || err != cudaSuccess) return nullptr;
    void* d = nullptr;
    err = cudaMalloc(&d, sizeof(U) * n);
    if (err != cudaSuccess) return nullptr;
    ptrs.push_back(d);
    return static_cast<U*>(d);
  }
  template <class U>
  void download(U* host, const U* dev, int64_t n) {
    if (!host || !dev || n <= 0 || err != cudaSuccess) return;
    err = cudaMemcpy(host, dev, sizeof(U) * n, cudaMemcpyDeviceToHost);
  }
  /// After the launches: their launch error, else the error of running them to completion.
  void finish_launches() {
    err = cudaGetLastError();
    if (err == cudaSuccess) err = cudaDeviceSynchronize();
  }
  /// "" when every call succeeded, else the first CUDA error's description.
  std::string error() const { return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err)); }
  ~CudaScratch() {
    for (void* p : ptrs) cudaFree(p);
  }
};

}  // namespace lockstep::device
