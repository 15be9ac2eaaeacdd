#include "reference/model/decoder_stack.h"

#include <Eigen/Dense>

#include "core/activation/gelu_tanh_mul.h"
#include "core/attention/ragged_paged_attention.h"
#include "core/attention/rope.h"
#include "core/error.h"
#include "core/moe/moe_routing.h"
#include "core/norm/qkv_rmsnorm.h"
#include "core/norm/rmsnorm.h"
#include "reference/activation/gelu_tanh_mul.h"
#include "reference/attention/ragged_paged_attention.h"
#include "reference/attention/rope.h"
#include "reference/moe/moe_routing.h"
#include "reference/norm/qkv_rmsnorm.h"
#include "reference/norm/rmsnorm.h"

namespace lockstep::reference {

using model::DecoderOp;
using model::LayerType;
using model::Mat;
using model::Vec;

model::Mat run_decoder_stack(const model::DecoderConfig& c, const model::DecoderWeights& w, model::DecoderOps& ops,
                             model::DecoderObserver* observer) {
  model::validate(c);
  require(static_cast<int64_t>(w.layers.size()) == c.layers, "decoder.weights.layers", w.layers.size(),
          fmt::format("must equal decoder.layers ({})", c.layers));
  const model::PageLayout pages = model::make_page_layout(c);
  std::vector<Mat> caches;
  for (int64_t l = 0; l < c.layers; ++l)
    caches.emplace_back(pages.num_pages, c.page_size * 2 * c.kv_heads * model::layer_head_dim(c, l));
  Mat x;
  for (int64_t step = 0; step < c.steps(); ++step) {
    const model::StepInput in = model::make_step_input(c, step);
    x = in.x;
    for (int64_t l = 0; l < c.layers; ++l) {
      ops.begin(step, l);
      x = ops.layer_input(step, l, std::move(x));
      auto report = [&](DecoderOp op, const std::vector<Mat>& parts) {
        if (observer) observer->output(step, l, op, parts);
      };
      const model::LayerWeights& W = w.layers[static_cast<size_t>(l)];
      const int64_t hd = model::layer_head_dim(c, l);
      const LayerType type = model::layer_type(c, l);
      const Mat h = ops.input_norm(x, W.input_norm, c.eps);
      report(DecoderOp::input_norm, {h});
      const auto qkv = ops.project(DecoderOp::qkv_proj, h, {&W.wq, &W.wk, &W.wv});
      report(DecoderOp::qkv_proj, qkv);
      const auto n = ops.qkv_norm(qkv[0], qkv[1], qkv[2], W.q_norm, W.k_norm, c.q_heads, c.kv_heads, hd, c.eps);
      report(DecoderOp::qkv_norm, n);
      const auto r = ops.rope(n[0], n[1], type, c.q_heads, c.kv_heads, hd, in.positions, in.kv_len, in.decode);
      report(DecoderOp::rope, r);
      model::AttentionArgs a;
      a.type = type;
      a.q_heads = c.q_heads;
      a.kv_heads = c.kv_heads;
      a.head_dim = hd;
      a.page_size = c.page_size;
      a.sliding_window = type == LayerType::sliding ? c.sliding_window : 0;
      a.q = &r[0];
      a.k = &r[1];
      a.v = &n[2];
      a.cache = &caches[static_cast<size_t>(l)];
      a.page_indices = &pages.page_indices;
      a.kv_len = in.kv_len;
      model::AttentionResult at = ops.attention(a);
      caches[static_cast<size_t>(l)] = std::move(at.cache);
      report(DecoderOp::attention, {at.out});
      const auto o = ops.project(DecoderOp::o_proj, at.out, {&W.wo});
      report(DecoderOp::o_proj, o);
      const auto pa = ops.post_attn_norm(o[0], x, W, c.eps);  // par, router_in, dense_ff_in, moe_in
      report(DecoderOp::post_attn_norm, pa);
      const auto gu = ops.project(DecoderOp::mlp_gate_up, pa[2], {&W.w_gate, &W.w_up});
      report(DecoderOp::mlp_gate_up, gu);
      const Mat m = ops.act(DecoderOp::mlp_act, gu[0], gu[1]);
      report(DecoderOp::mlp_act, {m});
      const auto h1 = ops.project(DecoderOp::mlp_down, m, {&W.w_down});
      report(DecoderOp::mlp_down, h1);
      const auto logits = ops.project(DecoderOp::router_proj, pa[1], {&W.w_router});
      report(DecoderOp::router_proj, logits);
      const auto rt = ops.routing(logits[0], W.per_expert_scale, c.topk);
      report(DecoderOp::routing, rt);
      const Mat h2 = ops.experts(pa[3], rt[0], rt[1], W);
      report(DecoderOp::experts, {h2});
      const Mat hp = ops.ffn_tail(h1[0], h2, pa[0], W, c.eps);
      report(DecoderOp::ffn_tail, {hp});
      const auto g = ops.project(DecoderOp::ple_gate, hp, {&W.w_ple_gate});
      report(DecoderOp::ple_gate, g);
      const Mat ga = ops.act(DecoderOp::ple_act, g[0], in.ple[static_cast<size_t>(l)]);
      report(DecoderOp::ple_act, {ga});
      const auto cp = ops.project(DecoderOp::ple_proj, ga, {&W.w_ple_proj});
      report(DecoderOp::ple_proj, cp);
      x = ops.layer_out(cp[0], hp, W, c.eps);
      report(DecoderOp::layer_out, {x});
    }
  }
  return x;
}

namespace {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

MatD to_eigen(const Mat& m) {
  MatD e(m.rows, m.cols);
  for (int64_t i = 0; i < m.rows * m.cols; ++i) e.data()[i] = m.v[static_cast<size_t>(i)];
  return e;
}

Mat from_eigen(const MatD& e) {  // stored once in f32
  Mat m(e.rows(), e.cols());
  for (int64_t i = 0; i < m.rows * m.cols; ++i) m.v[static_cast<size_t>(i)] = static_cast<float>(e.data()[i]);
  return m;
}

Tensor tensor(const Mat& m, Shape shape) { return model::to_tensor(m, std::move(shape), DType::f32); }
Tensor tensor(const Vec& v) { return model::to_tensor(v, DType::f32); }
Mat mat(const Tensor& t, int64_t rows, int64_t cols) { return model::to_mat(t, rows, cols); }
RmsNormCase norm_case(RmsNormVariant variant, const Mat& x, double eps) {
  return model::norm_case(variant, x, eps, DType::f32);
}

}  // namespace

std::vector<Mat> ReferenceDecoderOps::project(DecoderOp, const Mat& x, const std::vector<const Mat*>& ws) {
  std::vector<Mat> out;
  const MatD X = to_eigen(x);
  for (const Mat* w : ws) out.push_back(from_eigen(X * to_eigen(*w).transpose()));
  return out;
}

Mat ReferenceDecoderOps::input_norm(const Mat& x, const Vec& w, double eps) {
  RmsNormCase n = norm_case(RmsNormVariant::rmsnorm, x, eps);
  n.w = tensor(w);
  return mat(rmsnorm_in(n, DType::f32).out, x.rows, x.cols);
}

std::vector<Mat> ReferenceDecoderOps::qkv_norm(const Mat& q, const Mat& k, const Mat& v, const Vec& qw, const Vec& kw,
                                               int64_t nq, int64_t nkv, int64_t hd, double eps) {
  const QkvRmsNormCase n = model::qkv_norm_case(q, k, v, qw, kw, nq, nkv, hd, eps, DType::f32);
  const QkvRmsNormOutputs o = reference::qkv_rmsnorm(n);
  return {mat(o.q_out, q.rows, q.cols), mat(o.k_out, k.rows, k.cols), mat(o.v_out, v.rows, v.cols)};
}

std::vector<Mat> ReferenceDecoderOps::rope(const Mat& q, const Mat& k, LayerType type, int64_t nq, int64_t nkv,
                                           int64_t hd, const std::vector<int32_t>& positions, int64_t, bool) {
  RopeCase r;
  r.dtype = DType::f32;
  r.rope_type = type == LayerType::full ? RopeType::proportional : RopeType::default_rope;
  r.theta = type == LayerType::full ? 1e6 : 1e4;
  r.partial_rotary_factor = type == LayerType::full ? 0.25 : 1.0;
  r.num_q_heads = nq;
  r.num_kv_heads = nkv;
  r.head_dim = hd;
  r.positions = Tensor::from<int32_t>({static_cast<int64_t>(positions.size())}, positions);
  r.q = tensor(q, {q.rows, nq, hd});
  r.k = tensor(k, {k.rows, nkv, hd});
  const RopeOutputs o = reference::rope(r);
  return {mat(o.q, q.rows, q.cols), mat(o.k, k.rows, k.cols)};
}

model::AttentionResult ReferenceDecoderOps::attention(const model::AttentionArgs& a) {
  RpaCase c;
  c.dtype = DType::f32;
  c.mode = MaskMode::causal;
  c.num_seqs = 1;
  c.num_q_heads = a.q_heads;
  c.num_kv_heads = a.kv_heads;
  c.head_dim = a.head_dim;
  c.page_size = a.page_size;
  c.sm_scale = 1.0;  // Gemma-4: scaling 1.0 after the q/k norms
  c.sliding_window = a.sliding_window;
  const int64_t T = a.q->rows;
  const auto pages = static_cast<int64_t>(a.page_indices->size());
  c.q = tensor(*a.q, {T, a.q_heads, a.head_dim});
  c.k = tensor(*a.k, {T, a.kv_heads, a.head_dim});
  c.v = tensor(*a.v, {T, a.kv_heads, a.head_dim});
  c.kv_cache = tensor(*a.cache, {a.cache->rows, a.page_size, 2 * a.kv_heads, a.head_dim});
  c.kv_lens = Tensor::from<int32_t>({1}, {static_cast<int32_t>(a.kv_len)});
  c.page_indices = Tensor::from<int32_t>({pages}, *a.page_indices);
  c.cu_q_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(T)});
  c.cu_kv_lens = Tensor::from<int32_t>({2}, {0, static_cast<int32_t>(pages * a.page_size)});
  const RpaOutputs o = reference::ragged_paged_attention(c);
  require(o.oob_reads.empty() || o.oob_reads.numel() == 0, "decoder.attention.oob_reads", o.oob_reads.numel(),
          "the stack's page layout must never read out of range");
  return {mat(o.out, T, a.q->cols), mat(o.kv_cache, a.cache->rows, a.cache->cols)};
}

std::vector<Mat> ReferenceDecoderOps::post_attn_norm(const Mat& o, const Mat& residual, const model::LayerWeights& w,
                                                     double eps) {
  RmsNormCase n = norm_case(RmsNormVariant::post_attn_triple_rmsnorm, o, eps);
  n.r = tensor(residual, {residual.rows, residual.cols});
  n.w = tensor(w.post_attn_norm);
  n.w2 = tensor(w.router_scale);
  n.w3 = tensor(w.pre_ff_norm);
  n.w4 = tensor(w.pre_ff_norm_2);
  const RmsNormOutputs out = rmsnorm_in(n, DType::f32);
  return {mat(out.out, o.rows, o.cols), mat(out.router_in, o.rows, o.cols), mat(out.dense_ff_in, o.rows, o.cols),
          mat(out.moe_in, o.rows, o.cols)};
}

Mat ReferenceDecoderOps::act(DecoderOp, const Mat& gate, const Mat& up) {
  GeluTanhMulCase g;
  g.gate = tensor(gate, {gate.rows, gate.cols});
  g.ple = tensor(up, {up.rows, up.cols});
  return mat(reference::gelu_tanh_mul(g).out, gate.rows, gate.cols);
}

std::vector<Mat> ReferenceDecoderOps::routing(const Mat& logits, const Vec& per_expert_scale, int64_t topk) {
  MoeRoutingCase r;
  r.topk = topk;
  r.gating_output = tensor(logits, {logits.rows, logits.cols});
  r.per_expert_scale = tensor(per_expert_scale);
  const MoeRoutingOutputs o = reference::moe_routing(r);
  return {mat(o.topk_ids, logits.rows, topk), mat(o.topk_weights, logits.rows, topk)};
}

Mat ReferenceDecoderOps::experts(const Mat& x, const Mat& ids, const Mat& weights, const model::LayerWeights& w) {
  const MatD X = to_eigen(x);
  MatD out = MatD::Zero(x.rows, w.e_down.empty() ? 0 : w.e_down[0].rows);
  for (int64_t t = 0; t < x.rows; ++t) {
    for (int64_t k = 0; k < ids.cols; ++k) {
      const auto e = static_cast<size_t>(ids.at(t, k));
      require(e < w.e_gate.size(), "decoder.experts.ids", ids.at(t, k), "expert id out of range");
      const Eigen::VectorXd g = to_eigen(w.e_gate[e]) * X.row(t).transpose();
      const Eigen::VectorXd u = to_eigen(w.e_up[e]) * X.row(t).transpose();
      Eigen::VectorXd a(g.size());
      for (Eigen::Index i = 0; i < g.size(); ++i) a[i] = gelu_tanh(g[i]) * u[i];
      out.row(t) += static_cast<double>(weights.at(t, k)) * (to_eigen(w.e_down[e]) * a).transpose();
    }
  }
  return from_eigen(out);
}

Mat ReferenceDecoderOps::ffn_tail(const Mat& h1, const Mat& h2, const Mat& residual, const model::LayerWeights& w,
                                  double eps) {
  RmsNormCase n = norm_case(RmsNormVariant::dual_rmsnorm_residual_scalar, h1, eps);
  n.eps2 = eps;
  n.eps3 = eps;
  n.x2 = tensor(h2, {h2.rows, h2.cols});
  n.r = tensor(residual, {residual.rows, residual.cols});
  n.w = tensor(w.post_ff_norm_1);
  n.w2 = tensor(w.post_ff_norm_2);
  n.w3 = tensor(w.post_ff_norm);
  n.scalar = Tensor::from<float>({1}, {1.0f});
  return mat(rmsnorm_in(n, DType::f32).out, h1.rows, h1.cols);
}

Mat ReferenceDecoderOps::layer_out(const Mat& c, const Mat& hp, const model::LayerWeights& w, double eps) {
  RmsNormCase n = norm_case(RmsNormVariant::rmsnorm_residual_scalar, c, eps);
  n.r = tensor(hp, {hp.rows, hp.cols});
  n.w = tensor(w.post_ple_norm);
  n.scalar = Tensor::from<float>({1}, {w.layer_scalar});
  return mat(rmsnorm_in(n, DType::f32).out, c.rows, c.cols);
}

}  // namespace lockstep::reference
