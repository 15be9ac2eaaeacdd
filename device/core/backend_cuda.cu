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
