#include "device/norm/qkv_rmsnorm.h"

#include "core/error.h"
#include "device/core/launch.h"
#include "device/norm/qkv_rmsnorm_kernel.h"

namespace lockstep::device {
namespace {

template <class T, class O>
QkvRmsNormOutputs run(const QkvRmsNormCase& c, const Options& opt) {
  QkvRmsNormOutputs o = qkv_rmsnorm_alloc(c, dtype_of<O>());
  const bool kv = c.kv_shared == 0;
  QkvNormParams<T, O> p{};
  p.q = c.q.data<T>();
  p.k = kv ? c.k.data<T>() : nullptr;
  p.v = kv ? c.v.data<T>() : nullptr;
  p.q_weight = c.q_weight.data<T>();
  p.k_weight = kv ? c.k_weight.data<T>() : nullptr;
  p.q_out = o.q_out.data<O>();
  p.k_out = kv ? o.k_out.data<O>() : nullptr;
  p.v_out = kv ? o.v_out.data<O>() : nullptr;
  p.tokens = c.tokens();
  p.nq = c.num_q_heads;
  p.nkv = c.num_kv_heads;
  p.hd = c.head_dim;
  p.eps = static_cast<float>(c.eps);
  p.fault = opt.fault;
  LaunchGrid grid;
  grid.blocks = p.tokens;
  grid.threads = 128;
  grid.smem_bytes = grid.threads * static_cast<int64_t>(sizeof(float));
  grid.smem_user = "the head reduction";
  launch(p, grid, opt);
  return o;
}

}  // namespace

QkvRmsNormOutputs qkv_rmsnorm(const QkvRmsNormCase& c, const Options& options) {
  validate(c);
  switch (c.dtype) {
    case DType::f32: return run<float, float>(c, options);
    case DType::bf16: return options.f32_output ? run<bf16, float>(c, options) : run<bf16, bf16>(c, options);
    case DType::f16: return options.f32_output ? run<f16, float>(c, options) : run<f16, f16>(c, options);
    default: throw Error("case.dtype", dtype_name(c.dtype), "unsupported by the device kernel");
  }
}

}  // namespace lockstep::device
