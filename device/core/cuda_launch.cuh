#pragma once
/// The one CUDA launcher (included only by .cu files): device memory as a space of the generic
/// upload -> launch -> download routine (device/core/staged_launch.h), one __global__ template per kernel
/// shape, and `cuda_run<Params>` (declared in device/core/launch.h). An op's .cu file is its explicit
/// instantiation: `template std::string cuda_run(const MyParams&, const LaunchGrid&);`.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "device/core/staged_launch.h"

namespace lockstep::device {

/// One block of the kernel body per CUDA block, blockDim.x threads, dynamic shared memory.
template <class Params>
__global__ void block_kernel(Params params) {
  extern __shared__ __align__(16) unsigned char smem[];
  const BlockCtx ctx{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  kernel_block(params, ctx, blockIdx.x, smem);
}

/// The follow-up item kernel, grid-stride over `items`.
template <class Params>
__global__ void item_kernel(Params params, int64_t items) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < items; e += int64_t{gridDim.x} * blockDim.x)
    kernel_item(params, e);
}

/// Device memory: every buffer cudaMalloc'd, freed on scope exit; the first error is kept.
class CudaSpace {
 public:
  CudaSpace() = default;
  CudaSpace(const CudaSpace&) = delete;
  CudaSpace& operator=(const CudaSpace&) = delete;
  ~CudaSpace() {
    for (void* p : ptrs_) cudaFree(p);
  }

  /// Null for 0 bytes (the kernel must not touch an empty buffer).
  void* alloc(size_t bytes) {
    if (bytes == 0 || !ok()) return nullptr;
    void* d = nullptr;
    err_ = cudaMalloc(&d, bytes);
    if (err_ != cudaSuccess) return nullptr;
    ptrs_.push_back(d);
    return d;
  }
  void* upload(const void* host, size_t bytes, bool /*read_only*/) {
    void* d = alloc(bytes);
    if (d) err_ = cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice);
    return d;
  }
  void download(void* host, const void* dev, size_t bytes) {
    if (!dev || bytes == 0 || !ok()) return;
    err_ = cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost);
  }

  /// The block kernel, then the item kernel on the same stream, then a synchronisation (so the launch
  /// error or the error of running them to completion is kept).
  template <class Params>
  void launch(const Params& params, const LaunchGrid& grid) {
    if (grid.blocks > 0) {
      int dev = 0, max_smem = 0;
      cudaGetDevice(&dev);
      cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
      if (grid.smem_bytes > max_smem) {
        message_ = std::string(grid.smem_user) + " needs " + std::to_string(grid.smem_bytes) +
                   " bytes of shared memory, device allows " + std::to_string(max_smem) + grid.smem_hint;
        return;
      }
      if (grid.smem_bytes > 0)
        cudaFuncSetAttribute(block_kernel<Params>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(grid.smem_bytes));
      block_kernel<Params><<<static_cast<unsigned>(grid.blocks), static_cast<unsigned>(grid.threads),
                             static_cast<size_t>(grid.smem_bytes)>>>(params);
    }
    if constexpr (HasKernelItem<Params>::value) {
      if (grid.items > 0) {
        const int64_t blocks = (grid.items + 255) / 256 < 65535 ? (grid.items + 255) / 256 : 65535;
        item_kernel<Params><<<static_cast<unsigned>(blocks), 256>>>(params, grid.items);
      }
    }
    err_ = cudaGetLastError();
    if (err_ == cudaSuccess) err_ = cudaDeviceSynchronize();
  }

  bool ok() const { return err_ == cudaSuccess && message_.empty(); }
  /// "" when every call succeeded, else the first error.
  std::string error() const {
    if (!message_.empty()) return message_;
    return err_ == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err_));
  }

 private:
  std::vector<void*> ptrs_;
  cudaError_t err_ = cudaSuccess;
  std::string message_;
};

template <class Params>
std::string cuda_run(const Params& params, const LaunchGrid& grid) {
  CudaSpace space;
  run_staged(space, params, grid);
  return space.error();
}

}  // namespace lockstep::device
