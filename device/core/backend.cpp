#include "device/core/backend.h"

#include "core/error.h"

namespace lockstep::device {

#if LOCKSTEP_HAVE_CUDA
bool cuda_runtime_available(std::string* why);  // backend_cuda.cu
#endif

bool cuda_available(std::string* why) {
#if LOCKSTEP_HAVE_CUDA
  return cuda_runtime_available(why);
#else
  if (why) *why = "lockstep was built without nvcc (LOCKSTEP_HAVE_CUDA=0)";
  return false;
#endif
}

void require_backend(Backend backend) {
  std::string why;
  if (backend == Backend::cuda && !cuda_available(&why)) throw Error("backend", "cuda", "not available: " + why);
}

}  // namespace lockstep::device
