#pragma once
/// Memory of an external implementation (include/lockstep/impl.h): host memory, or CUDA device memory when
/// lockstep was built with nvcc and a device is present. Used by the plugin bridge (oracle/impl.h) to
/// allocate a plugin's input and output buffers and copy them in and out.
#include <cstddef>
#include <string>

namespace lockstep::device {

enum class ImplMemory : int { host = 0, cuda = 1 };

/// Whether buffers in `m` can be allocated here; false with the reason in `why` otherwise (CUDA: built
/// without nvcc, no driver (35) or no device (100)).
bool impl_memory_available(ImplMemory m, std::string* why);
/// `bytes` in `m` (a valid pointer for 0 bytes too); throws Error naming the space on failure.
void* impl_alloc(ImplMemory m, size_t bytes);
void impl_free(ImplMemory m, void* p);
void impl_upload(ImplMemory m, void* dst, const void* host, size_t bytes);
void impl_download(ImplMemory m, void* host, const void* src, size_t bytes);
/// Waits for the implementation's work (CUDA: cudaDeviceSynchronize; its error is thrown).
void impl_sync(ImplMemory m);

}  // namespace lockstep::device
