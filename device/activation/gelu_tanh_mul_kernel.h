#pragma once
/// Single-source body of the `gelu_tanh_mul` kernel (compiled by nvcc and by the host compiler).
///
/// Grid: one block per row (S1's Triton kernel: one program per row). Threads stride over the row's N
/// columns: load gate and ple, widen to fp32, out = 0.5 g (1 + tanhf(c (g + 0.044715 g^3))) ple in fp32
/// (constants rounded to fp32), one rounding to the output type. Storage T (float / bf16 / f16), output O
/// (T, or float for the oracle's exact rounding check).
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "device/core/fault.h"
#include "device/core/portability.h"

namespace lockstep::device {

enum GeluFault : int {
  kGeluFaultNone = 0,
  kGeluFaultErfInsteadOfTanh = 1,  ///< exact-erf GELU 0.5 g (1 + erf(g / sqrt 2)) instead of the tanh form
};

inline constexpr Fault kGeluFaults[] = {
    {"gelu_erf_instead_of_tanh", kGeluFaultErfInsteadOfTanh,
     "the exact-erf GELU (torch gelu(approximate='none'), HF 'gelu') instead of gelu_pytorch_tanh: differs by "
     "up to ~5e-4 absolute near |g| ~ 2 and by ~10% relative at g ~ -3"},
};

template <class T, class O = T>
struct GeluParams {
  const T* gate;  // (M, N)
  const T* ple;   // (M, N)
  O* out;         // (M, N)
  int64_t rows;
  int64_t cols;
  int32_t fault;

  template <class V>
  void buffers(V& v) {
    v.in(gate, rows * cols);
    v.in(ple, rows * cols);
    v.out(out, rows * cols);
  }
};

/// gelu_pytorch_tanh in fp32, as the fused kernel evaluates it.
LS_HD inline float gelu_tanh_f32(float g) {
  const float kAlpha = 0.7978845608028654f;  // sqrt(2/pi)
  const float kBeta = 0.044715f;
  const float u = kAlpha * (g + kBeta * (g * g * g));
  return 0.5f * g * (1.0f + tanhf(u));
}

/// The fault: the exact-erf GELU.
LS_HD inline float gelu_erf_f32(float g) { return 0.5f * g * (1.0f + erff(g * 0.70710678118654752f)); }

template <class T, class O>
LS_HD inline void kernel_block(const GeluParams<T, O>& P, const BlockCtx& ctx, int64_t row, unsigned char*) {
  const T* g = P.gate + row * P.cols;
  const T* p = P.ple + row * P.cols;
  O* out = P.out + row * P.cols;
  LS_FOR_THREADS(ctx, n, P.cols) {
    const float gf = load_f32(g[n]);
    const float act = P.fault == kGeluFaultErfInsteadOfTanh ? gelu_erf_f32(gf) : gelu_tanh_f32(gf);
    out[n] = store_as<O>(act * load_f32(p[n]));
  }
}

}  // namespace lockstep::device
