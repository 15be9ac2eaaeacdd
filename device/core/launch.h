#pragma once
/// The one dispatch of every device op (host side): `launch(params, grid, options)` runs a kernel whose
/// Params describe their buffers (device/core/staged_launch.h) on the backend `options` names:
///   cpu     the CPU launcher on the host pointers themselves (options.cpu_threads workers)
///   cuda    upload -> launch -> download in device memory (cuda_run, device/core/cuda_launch.cuh)
///   staged  the same upload -> launch -> download in guarded, poisoned host memory, kernel on the CPU
///           launcher (device/core/host_space.h): the CUDA path's bookkeeping checked without a GPU
/// Throws Error("backend", ...) when the backend is unavailable or the run fails.
#include <string>

#include "core/error.h"
#include "device/core/host_space.h"
#include "device/core/options.h"
#include "device/core/staged_launch.h"

namespace lockstep::device {

#if LOCKSTEP_HAVE_CUDA
/// Defined in device/core/cuda_launch.cuh; each op's .cu file instantiates it for its Params.
template <class Params>
std::string cuda_run(const Params& params, const LaunchGrid& grid);
#else
template <class Params>
std::string cuda_run(const Params&, const LaunchGrid&) {
  return "built without CUDA";
}
#endif

template <class Params>
void launch(const Params& params, const LaunchGrid& grid, const Options& options) {
  switch (options.backend) {
    case Backend::cpu:
      cpu_run(params, grid, options.cpu_threads);
      return;
    case Backend::staged: {
      HostSpace space(options.cpu_threads);
      run_staged(space, params, grid);
      if (!space.ok()) throw Error("backend", "staged", space.error());
      return;
    }
    case Backend::cuda: {
      require_backend(options.backend);
      if constexpr (HostOnlyKernel<Params>::value) {
        cpu_run(params, grid, options.cpu_threads);
      } else {
        const std::string err = cuda_run(params, grid);
        if (!err.empty()) throw Error("backend", "cuda", err);
      }
      return;
    }
  }
  throw Error("backend", std::to_string(static_cast<int>(options.backend)), "unknown backend");
}

}  // namespace lockstep::device
