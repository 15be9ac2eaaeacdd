#pragma once
#include <string>

#include "core/fields.h"

namespace lockstep {

/// Where device kernels execute: the same kernel bodies, run by the CPU launcher or by CUDA. `staged` runs
/// the CUDA path's upload -> launch -> download bookkeeping in guarded, poisoned host memory with the
/// kernels on the CPU launcher (device/core/launch.h): what a GPU run would get back, checked without one.
enum class Backend : int { cpu = 0, cuda = 1, staged = 2 };
template <>
struct EnumNames<Backend> {
  static constexpr std::array<const char*, 3> names{"cpu", "cuda", "staged"};
};

namespace device {

/// True when a CUDA device can run kernels. Otherwise false with the reason in `why`: built without
/// nvcc, no driver (cudaErrorInsufficientDriver, 35) or no device (cudaErrorNoDevice, 100).
bool cuda_available(std::string* why = nullptr);

/// Throws Error when `backend` is cuda and cuda_available() is false.
void require_backend(Backend backend);

}  // namespace device
}  // namespace lockstep
