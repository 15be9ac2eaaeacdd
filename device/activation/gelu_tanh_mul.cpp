#include "device/activation/gelu_tanh_mul.h"

#include "core/error.h"
#include "device/activation/gelu_tanh_mul_kernel.h"
#include "device/core/launch.h"

namespace lockstep::device {
namespace {

template <class T, class O>
GeluTanhMulOutputs run(const GeluTanhMulCase& c, const Options& opt) {
  GeluTanhMulOutputs o;
  o.out = Tensor(dtype_of<O>(), c.gate.shape());  // (M, N)
  GeluParams<T, O> p{};
  p.gate = c.gate.data<T>();
  p.ple = c.ple.data<T>();
  p.out = o.out.data<O>();
  p.rows = c.rows();
  p.cols = c.cols();
  p.fault = opt.fault;
  LaunchGrid grid;
  grid.blocks = c.rows();
  grid.threads = 256;
  launch(p, grid, opt);
  return o;
}

}  // namespace

GeluTanhMulOutputs gelu_tanh_mul(const GeluTanhMulCase& c, const Options& options) {
  validate(c);
  switch (c.gate.dtype()) {
    case DType::f32: return run<float, float>(c, options);
    case DType::bf16: return options.f32_output ? run<bf16, float>(c, options) : run<bf16, bf16>(c, options);
    case DType::f16: return options.f32_output ? run<f16, float>(c, options) : run<f16, f16>(c, options);
    default: throw Error("case.gate", c.gate.describe(), "dtype unsupported by the device kernel");
  }
}

}  // namespace lockstep::device
