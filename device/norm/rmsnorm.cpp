#include "device/norm/rmsnorm.h"

#include "core/error.h"
#include "device/core/launch.h"
#include "device/norm/rmsnorm_kernel.h"

namespace lockstep::device {
namespace {

template <class P>
const P* opt_data(const Tensor& t) {
  return t.empty() ? nullptr : t.data<P>();
}

template <class T, class O>
RmsNormOutputs run(const RmsNormCase& c, const Options& opt) {
  RmsNormOutputs o = rmsnorm_alloc(c, dtype_of<O>());
  RmsNormParams<T, O> p{};
  p.x = c.x.data<T>();
  p.r = opt_data<T>(c.r);
  p.x2 = opt_data<T>(c.x2);
  p.w = opt_data<T>(c.w);
  p.w2 = opt_data<T>(c.w2);
  p.w3 = opt_data<T>(c.w3);
  p.w4 = opt_data<T>(c.w4);
  p.scalar = opt_data<T>(c.scalar);
  p.out = o.out.data<O>();
  p.residual_out = o.residual_out.empty() ? nullptr : o.residual_out.data<O>();
  p.router_in = o.router_in.empty() ? nullptr : o.router_in.data<O>();
  p.dense_ff_in = o.dense_ff_in.empty() ? nullptr : o.dense_ff_in.data<O>();
  p.moe_in = o.moe_in.empty() ? nullptr : o.moe_in.data<O>();
  p.M = c.rows();
  p.H = c.width();
  p.eps = static_cast<float>(c.eps);
  p.eps2 = static_cast<float>(c.eps2);
  p.eps3 = static_cast<float>(c.eps3);
  p.variant = kernel_id(c.variant);
  p.fault = opt.fault;
  LaunchGrid grid;
  grid.blocks = p.M;
  grid.threads = 128;
  grid.smem_bytes = grid.threads * static_cast<int64_t>(sizeof(float));
  grid.smem_user = "the row reduction";
  launch(p, grid, opt);
  return o;
}

template <class T>
RmsNormOutputs run_for(const RmsNormCase& c, const Options& opt) {
  if (opt.f32_output) return run<T, float>(c, opt);
  if (c.variant == RmsNormVariant::post_attn_triple_rmsnorm) return run<T, bf16>(c, opt);  // S1: bf16 outputs
  return run<T, T>(c, opt);
}

}  // namespace

RmsNormOutputs rmsnorm(const RmsNormCase& c, const Options& options) {
  validate(c);
  switch (c.dtype) {
    case DType::f32: return run_for<float>(c, options);
    case DType::bf16: return run_for<bf16>(c, options);
    case DType::f16: return run_for<f16>(c, options);
    default: throw Error("case.dtype", dtype_name(c.dtype), "unsupported by the device kernel");
  }
}

}  // namespace lockstep::device
