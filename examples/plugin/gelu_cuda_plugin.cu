// The README's CUDA plugin: f32 gelu_tanh_mul, tensors in CUDA device memory (build/plugins/libgelu_cuda_plugin.so).
#include <cstdio>
#include "lockstep/impl.h"

__global__ void gelu_tanh_mul(const float* g, const float* p, float* o, int64_t n) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  const float u = 0.7978845608028654f * (g[i] + 0.044715f * (g[i] * g[i] * g[i]));
  o[i] = 0.5f * g[i] * (1.0f + tanhf(u)) * p[i];
}

static const lockstep_capability kCaps[] = {{"gate", "f32", LOCKSTEP_ANY_RANGE}};  // f32 cases only
static const lockstep_op_support kOps[] = {{"gelu_tanh_mul", kCaps, 1}};
static const lockstep_impl_desc kDesc = {LOCKSTEP_IMPL_ABI_VERSION, "gelu-cuda", LOCKSTEP_MEMORY_CUDA, kOps, 1};
extern "C" const lockstep_impl_desc* lockstep_impl_info(void) { return &kDesc; }

extern "C" int lockstep_impl_run(const char* op, const lockstep_args* in, lockstep_args* out, char* err, size_t n_err) {
  const int64_t n = lockstep_find(in, "gate")->numel;  // pointers below are device pointers (LOCKSTEP_MEMORY_CUDA)
  const float* g = static_cast<const float*>(lockstep_tensor(in, "gate", LOCKSTEP_F32));
  const float* p = static_cast<const float*>(lockstep_tensor(in, "ple", LOCKSTEP_F32));
  float* o = static_cast<float*>(lockstep_tensor(out, "out", LOCKSTEP_F32));
  if (n > 0) gelu_tanh_mul<<<static_cast<unsigned>((n + 255) / 256), 256>>>(g, p, o, n);
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) return std::snprintf(err, n_err, "%s: %s", op, cudaGetErrorString(e)), 1;
  return 0;
}
