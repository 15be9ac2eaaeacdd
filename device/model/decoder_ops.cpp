#include "device/model/decoder_ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/activation/gelu_tanh_mul.h"
#include "core/attention/ragged_paged_attention.h"
#include "core/attention/rope.h"
#include "core/error.h"
#include "core/moe/moe_routing.h"
#include "core/norm/qkv_rmsnorm.h"
#include "core/norm/rmsnorm.h"
#include "device/activation/gelu_tanh_mul.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/attention/rope.h"
#include "device/moe/moe_routing.h"
#include "device/moe/moe_routing_kernel.h"
#include "device/norm/qkv_rmsnorm.h"
#include "device/norm/rmsnorm.h"
#include "device/norm/rmsnorm_kernel.h"

namespace lockstep::device {

using model::DecoderFault;
using model::DecoderOp;
using model::Fusion;
using model::LayerType;
using model::Mat;
using model::Vec;

namespace {

float bfr(float x) { return to_float(to_bf16(x)); }

Tensor tensor(const Mat& m, Shape shape, DType dt = DType::bf16) { return model::to_tensor(m, std::move(shape), dt); }
Tensor tensor(const Vec& v) { return model::to_tensor(v, DType::bf16); }
/// Float values of a bf16 / f16 / f32 tensor, as stored (bf16 for f16: the stack's storage type).
Mat mat(const Tensor& t, int64_t rows, int64_t cols) {
  Mat m = model::to_mat(t, rows, cols);
  if (t.dtype() != DType::bf16)
    for (float& x : m.v) x = bfr(x);
  return m;
}
Mat reshape(Mat m, int64_t rows, int64_t cols) {
  m.rows = rows;
  m.cols = cols;
  return m;
}
Mat add(const Mat& a, const Mat& b) {  // bf16 elementwise add (fp32, rounded)
  Mat o(a.rows, a.cols);
  for (size_t i = 0; i < o.v.size(); ++i) o.v[i] = bfr(a.v[i] + b.v[i]);
  return o;
}

RmsNormCase norm_case(RmsNormVariant variant, const Mat& x, double eps) {
  return model::norm_case(variant, x, eps, DType::bf16);
}

}  // namespace

Mat matmul_bf16(const Mat& x, const Mat& w) {
  require(x.cols == w.cols, "decoder.matmul.in", x.cols, fmt::format("must equal the weight's in ({})", w.cols));
  Mat out(x.rows, w.rows);
  for (int64_t t = 0; t < x.rows; ++t) {
    const float* xr = x.v.data() + t * x.cols;
    for (int64_t o = 0; o < w.rows; ++o) {
      const float* wr = w.v.data() + o * w.cols;
      float acc = 0.0f;
      for (int64_t i = 0; i < x.cols; ++i) acc += xr[i] * wr[i];
      out.at(t, o) = bfr(acc);
    }
  }
  return out;
}

std::vector<Mat> DeviceDecoderOps::project(DecoderOp, const Mat& x, const std::vector<const Mat*>& ws) {
  std::vector<Mat> out;
  for (const Mat* w : ws) out.push_back(matmul_bf16(x, *w));
  return out;
}

Mat DeviceDecoderOps::norm(const Mat& x, const Vec* w, double eps) const {
  RmsNormCase n = norm_case(RmsNormVariant::rmsnorm, x, eps);
  if (w) n.w = tensor(*w);
  else n.with_scale = 0;
  return mat(device::rmsnorm(n, options_).out, x.rows, x.cols);
}

Mat DeviceDecoderOps::input_norm(const Mat& x, const Vec& w, double eps) { return norm(x, &w, eps); }

std::vector<Mat> DeviceDecoderOps::qkv_norm(const Mat& q, const Mat& k, const Mat& v, const Vec& qw, const Vec& kw,
                                            int64_t nq, int64_t nkv, int64_t hd, double eps) {
  if (!fused(Fusion::qkv_norm)) {  // one rmsnorm launch per tensor over (T * heads, hd) rows
    const int64_t T = q.rows;
    return {reshape(norm(reshape(q, T * nq, hd), &qw, eps), T, nq * hd),
            reshape(norm(reshape(k, T * nkv, hd), &kw, eps), T, nkv * hd),
            reshape(norm(reshape(v, T * nkv, hd), nullptr, eps), T, nkv * hd)};
  }
  const QkvRmsNormCase n = model::qkv_norm_case(q, k, v, qw, kw, nq, nkv, hd, eps, DType::bf16);
  const QkvRmsNormOutputs o = device::qkv_rmsnorm(n, options_);
  return {mat(o.q_out, q.rows, q.cols), mat(o.k_out, k.rows, k.cols), mat(o.v_out, v.rows, v.cols)};
}

std::vector<Mat> DeviceDecoderOps::rope(const Mat& q, const Mat& k, LayerType type, int64_t nq, int64_t nkv,
                                        int64_t hd, const std::vector<int32_t>& positions, int64_t kv_len,
                                        bool decode) {
  const int64_t T = q.rows;
  std::vector<int32_t> pos = positions;
  if (fused(Fusion::rope_positions)) {  // derived on the device from the sequence length after this step
    const bool off = decode && fault(DecoderFault::rope_position_off_by_one_on_decode);
    for (int64_t j = 0; j < T; ++j) pos[static_cast<size_t>(j)] = static_cast<int32_t>(kv_len - T + j + (off ? 1 : 0));
  }
  RopeCase r;
  r.dtype = DType::bf16;
  r.rope_type = type == LayerType::full ? RopeType::proportional : RopeType::default_rope;
  r.theta = type == LayerType::full ? 1e6 : 1e4;
  r.partial_rotary_factor = type == LayerType::full ? 0.25 : 1.0;
  r.num_q_heads = nq;
  r.num_kv_heads = nkv;
  r.head_dim = hd;
  r.positions = Tensor::from<int32_t>({T}, pos);
  r.q = tensor(q, {T, nq, hd});
  r.k = tensor(k, {T, nkv, hd});
  const RopeOutputs o = device::rope(r, options_);
  return {mat(o.q, T, q.cols), mat(o.k, T, k.cols)};
}

model::AttentionResult DeviceDecoderOps::attention(const model::AttentionArgs& a) {
  const int64_t T = a.q->rows;
  const auto pages = static_cast<int64_t>(a.page_indices->size());
  // The store of the new tokens' K/V into the bf16 cache (what a separate set_kv_buffer launch writes).
  Mat stored = *a.cache;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = a.kv_len - T + t;
    const int64_t page = (*a.page_indices)[static_cast<size_t>(p / a.page_size)];
    const int64_t slot = page * a.page_size + p % a.page_size;
    for (int64_t h = 0; h < a.kv_heads; ++h)
      for (int64_t d = 0; d < a.head_dim; ++d) {
        stored.v[static_cast<size_t>(((slot * 2 * a.kv_heads) + 2 * h) * a.head_dim + d)] = a.k->at(t, h * a.head_dim + d);
        stored.v[static_cast<size_t>(((slot * 2 * a.kv_heads) + 2 * h + 1) * a.head_dim + d)] = a.v->at(t, h * a.head_dim + d);
      }
  }
  const bool fused_write = fused(Fusion::kv_write);
  const bool as_f16 = fused_write && fault(DecoderFault::kv_written_bf16_read_as_f16);
  RpaCase c;
  c.dtype = as_f16 ? DType::f16 : DType::bf16;
  c.mode = MaskMode::causal;
  c.num_seqs = 1;
  c.num_q_heads = a.q_heads;
  c.num_kv_heads = a.kv_heads;
  c.head_dim = a.head_dim;
  c.page_size = a.page_size;
  c.sm_scale = 1.0;
  c.sliding_window = a.sliding_window;
  c.q = tensor(*a.q, {T, a.q_heads, a.head_dim}, c.dtype);
  c.k = tensor(*a.k, {T, a.kv_heads, a.head_dim}, c.dtype);
  c.v = tensor(*a.v, {T, a.kv_heads, a.head_dim}, c.dtype);
  const Shape cache_shape{a.cache->rows, a.page_size, 2 * a.kv_heads, a.head_dim};
  if (as_f16) {  // fault: the bf16 cache's bits handed to an f16 read
    c.kv_cache = Tensor(DType::f16, cache_shape);
    const Tensor b = tensor(*a.cache, cache_shape);
    copy_bytes(c.kv_cache.raw(), b.raw(), b.nbytes());
  } else {
    c.kv_cache = tensor(fused_write ? *a.cache : stored, cache_shape);
  }
  c.kv_lens = Tensor::from<int32_t>({1}, {static_cast<int32_t>(a.kv_len)});
  c.page_indices = Tensor::from<int32_t>({pages}, *a.page_indices);
  c.cu_q_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(T)});
  c.cu_kv_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(pages * a.page_size)});
  const RpaOutputs o = device::ragged_paged_attention(c, options_);
  require(o.oob_reads.numel() == 0, "decoder.attention.oob_reads", o.oob_reads.numel(),
          "the stack's page layout must never read out of range");
  model::AttentionResult r;
  r.out = mat(o.out, T, a.q->cols);
  r.cache = as_f16 ? std::move(stored) : mat(o.kv_cache, a.cache->rows, a.cache->cols);
  return r;
}

std::vector<Mat> DeviceDecoderOps::post_attn_norm(const Mat& o, const Mat& residual, const model::LayerWeights& w,
                                                  double eps) {
  const int64_t M = o.rows, H = o.cols;
  if (!fused(Fusion::triple_norm)) {  // the unfused fallback of §2.3
    const Mat h = norm(o, &w.post_attn_norm, eps);
    RmsNormCase n = norm_case(RmsNormVariant::add_rmsnorm, h, eps);
    n.r = tensor(residual, {M, H});
    n.w = tensor(w.pre_ff_norm);
    const RmsNormOutputs a = device::rmsnorm(n, options_);
    const Mat par = mat(a.residual_out, M, H);
    Mat router_in = norm(par, nullptr, eps);
    for (int64_t i = 0; i < M * H; ++i)
      router_in.v[static_cast<size_t>(i)] = bfr(router_in.v[static_cast<size_t>(i)] * w.router_scale[static_cast<size_t>(i % H)]);
    return {par, router_in, mat(a.out, M, H), norm(par, &w.pre_ff_norm_2, eps)};
  }
  RmsNormCase n = norm_case(RmsNormVariant::post_attn_triple_rmsnorm, o, eps);
  n.r = tensor(residual, {M, H});
  n.w = tensor(w.post_attn_norm);
  n.w2 = tensor(w.router_scale);
  n.w3 = tensor(w.pre_ff_norm);
  n.w4 = tensor(w.pre_ff_norm_2);
  Options opt = options_;
  if (fault(DecoderFault::fused_norm_accumulates_in_bf16)) opt.fault = kRmsNormFaultBf16Accumulate;
  const RmsNormOutputs out = device::rmsnorm(n, opt);
  return {mat(out.out, M, H), mat(out.router_in, M, H), mat(out.dense_ff_in, M, H), mat(out.moe_in, M, H)};
}

Mat DeviceDecoderOps::act(DecoderOp, const Mat& gate, const Mat& up) {
  GeluTanhMulCase g;
  g.gate = tensor(gate, {gate.rows, gate.cols});
  if (fused(Fusion::gelu_tanh_mul)) {
    g.ple = tensor(up, {up.rows, up.cols});
    return mat(device::gelu_tanh_mul(g, options_).out, gate.rows, gate.cols);
  }
  Mat ones(up.rows, up.cols);
  std::fill(ones.v.begin(), ones.v.end(), 1.0f);
  g.ple = tensor(ones, {up.rows, up.cols});  // gelu_tanh(g) alone, rounded to bf16
  Mat a = mat(device::gelu_tanh_mul(g, options_).out, gate.rows, gate.cols);
  for (size_t i = 0; i < a.v.size(); ++i) a.v[i] = bfr(a.v[i] * up.v[i]);
  return a;
}

std::vector<Mat> DeviceDecoderOps::routing(const Mat& logits, const Vec& per_expert_scale, int64_t topk) {
  const int64_t T = logits.rows, E = logits.cols, K = topk;
  Mat ids(T, K), weights(T, K);
  if (fused(Fusion::routing)) {
    MoeRoutingCase r;
    r.topk = K;
    r.gating_output = tensor(logits, {T, E});
    r.per_expert_scale = tensor(per_expert_scale);
    Options opt = options_;
    if (fault(DecoderFault::routing_weights_not_scaled)) opt.fault = kRoutingFaultNotScaled;
    const MoeRoutingOutputs o = device::moe_routing(r, opt);
    for (int64_t i = 0; i < T * K; ++i) {
      ids.v[static_cast<size_t>(i)] = static_cast<float>(o.topk_ids.get_int(i));
      weights.v[static_cast<size_t>(i)] = static_cast<float>(o.topk_weights.get(i));
    }
    return {ids, weights};
  }
  // torch-style: fp32 logits, topk (descending, lowest id first on ties), softmax over the K in fp32, * scale
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits.at(t, a) > logits.at(t, b); });
    const float m = logits.at(t, order[0]);
    float s = 0.0f;
    std::vector<float> e(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) s += (e[static_cast<size_t>(k)] = std::exp(logits.at(t, order[static_cast<size_t>(k)]) - m));
    for (int64_t k = 0; k < K; ++k) {
      const int64_t id = order[static_cast<size_t>(k)];
      ids.at(t, k) = static_cast<float>(id);
      weights.at(t, k) = e[static_cast<size_t>(k)] / s * per_expert_scale[static_cast<size_t>(id)];
    }
  }
  return {ids, weights};
}

Mat DeviceDecoderOps::experts(const Mat& x, const Mat& ids, const Mat& weights, const model::LayerWeights& w) {
  const int64_t H = w.e_down.empty() ? 0 : w.e_down[0].rows;
  Mat out(x.rows, H);
  for (int64_t t = 0; t < x.rows; ++t) {
    Mat xt(1, x.cols);
    std::copy(x.v.begin() + t * x.cols, x.v.begin() + (t + 1) * x.cols, xt.v.begin());
    std::vector<float> acc(static_cast<size_t>(H), 0.0f);
    for (int64_t k = 0; k < ids.cols; ++k) {
      const auto e = static_cast<size_t>(ids.at(t, k));
      require(e < w.e_gate.size(), "decoder.experts.ids", ids.at(t, k), "expert id out of range");
      const Mat a = act(DecoderOp::experts, matmul_bf16(xt, w.e_gate[e]), matmul_bf16(xt, w.e_up[e]));
      const Mat y = matmul_bf16(a, w.e_down[e]);
      for (int64_t i = 0; i < H; ++i) acc[static_cast<size_t>(i)] += weights.at(t, k) * y.v[static_cast<size_t>(i)];
    }
    for (int64_t i = 0; i < H; ++i) out.at(t, i) = bfr(acc[static_cast<size_t>(i)]);
  }
  return out;
}

Mat DeviceDecoderOps::ffn_tail(const Mat& h1, const Mat& h2, const Mat& residual, const model::LayerWeights& w,
                               double eps) {
  const int64_t M = h1.rows, H = h1.cols;
  if (!fused(Fusion::dual_norm_tail)) {  // §2.4's PLE path: post_ff_1, post_ff_2, add, gemma_rmsnorm_add
    const Mat c = add(norm(h1, &w.post_ff_norm_1, eps), norm(h2, &w.post_ff_norm_2, eps));
    RmsNormCase n = norm_case(RmsNormVariant::rmsnorm_add, c, eps);
    n.r = tensor(residual, {M, H});
    n.w = tensor(w.post_ff_norm);
    return mat(device::rmsnorm(n, options_).out, M, H);
  }
  RmsNormCase n = norm_case(RmsNormVariant::dual_rmsnorm_residual_scalar, h1, eps);
  n.eps2 = eps;
  n.eps3 = eps;
  n.x2 = tensor(h2, {M, H});
  n.r = tensor(residual, {M, H});
  n.w = tensor(w.post_ff_norm_1);
  n.w2 = tensor(w.post_ff_norm_2);
  n.w3 = tensor(w.post_ff_norm);
  n.scalar = Tensor(DType::bf16, {1});
  n.scalar.set(0, 1.0);
  return mat(device::rmsnorm(n, options_).out, M, H);
}

Mat DeviceDecoderOps::layer_out(const Mat& c, const Mat& hp, const model::LayerWeights& w, double eps) {
  const int64_t M = c.rows, H = c.cols;
  if (!fused(Fusion::residual_scalar_tail)) {
    Mat s = add(norm(c, &w.post_ple_norm, eps), hp);
    for (auto& x : s.v) x = bfr(x * w.layer_scalar);
    return s;
  }
  RmsNormCase n = norm_case(RmsNormVariant::rmsnorm_residual_scalar, c, eps);
  n.r = tensor(hp, {M, H});
  n.w = tensor(w.post_ple_norm);
  n.scalar = Tensor(DType::bf16, {1});
  n.scalar.set(0, w.layer_scalar);
  return mat(device::rmsnorm(n, options_).out, M, H);
}

}  // namespace lockstep::device
