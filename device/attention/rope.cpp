#include "device/attention/rope.h"

#include <cmath>

#include "core/error.h"
#include "device/attention/rope_kernel.h"
#include "device/core/launch.h"

namespace lockstep::device {
namespace {

template <class T, class O>
RopeOutputs run(const RopeCase& c, const Options& opt) {
  const int64_t T_ = c.num_tokens();
  std::vector<int64_t> positions(static_cast<size_t>(T_));
  for (int64_t t = 0; t < T_; ++t) positions[static_cast<size_t>(t)] = c.positions.get_int(t);  // i32/i64 -> i64
  const std::vector<float> inv = rope_inv_freq_f32(c.theta, c.head_dim);
  RopeOutputs o;
  o.q = Tensor(dtype_of<O>(), c.q.shape());  // (T, nq, hd)
  o.k = Tensor(dtype_of<O>(), c.k.shape());  // (T, nkv, hd)
  RopeParams<T, O> p{};
  p.positions = positions.data();
  p.inv_freq = inv.data();
  p.q = c.q.data<T>();
  p.k = c.k.data<T>();
  p.q_out = o.q.data<O>();
  p.k_out = o.k.data<O>();
  p.num_tokens = T_;
  p.num_q_heads = c.num_q_heads;
  p.num_kv_heads = c.num_kv_heads;
  p.head_dim = c.head_dim;
  p.rotated_pairs = rope_rotated_pairs(c);
  p.fault = opt.fault;
  LaunchGrid grid;
  grid.blocks = T_;
  grid.threads = 256;
  launch(p, grid, opt);
  return o;
}

}  // namespace

std::vector<float> rope_inv_freq_f32(double theta, int64_t head_dim) {
  const double theta_f = static_cast<float>(theta);
  std::vector<float> inv(static_cast<size_t>(head_dim / 2));
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / std::pow(theta_f, static_cast<double>(e)));
  }
  return inv;
}

RopeOutputs rope(const RopeCase& c, const Options& options) {
  validate(c);
  switch (c.dtype) {
    case DType::f32: return run<float, float>(c, options);
    case DType::bf16: return options.f32_output ? run<bf16, float>(c, options) : run<bf16, bf16>(c, options);
    case DType::f16: return options.f32_output ? run<f16, float>(c, options) : run<f16, f16>(c, options);
    default: throw Error("case.dtype", dtype_name(c.dtype), "unsupported by the device kernel");
  }
}

}  // namespace lockstep::device
