#pragma once
/// The decoder stack's layer order (core/model/decoder_stack.h) and its reference ops.
///
/// `run_decoder_stack` is the model: it walks steps and layers in the §2.4 order, calling a DecoderOps for
/// every op and reporting every output to an observer; the oracle injects the device's ops into it
/// (oracle/bisect/). `ReferenceDecoderOps` is the specification: every op through the reference/ library
/// (rmsnorm, qkv_rmsnorm, rope, ragged_paged_attention, gelu_tanh_mul, moe_routing) on f32 tensors —
/// double arithmetic, each op's output stored once in f32 (2^-24 relative, 2^-16 of a bf16 ulp) — and the
/// projections and experts as Eigen double products.
#include <vector>

#include "core/model/decoder_stack.h"

namespace lockstep::reference {

/// Runs all steps of the stack; returns the last layer's output of the last step (T, H).
model::Mat run_decoder_stack(const model::DecoderConfig& c, const model::DecoderWeights& w, model::DecoderOps& ops,
                             model::DecoderObserver* observer);

class ReferenceDecoderOps : public model::DecoderOps {
 public:
  std::vector<model::Mat> project(model::DecoderOp op, const model::Mat& x,
                                  const std::vector<const model::Mat*>& ws) override;
  model::Mat input_norm(const model::Mat& x, const model::Vec& w, double eps) override;
  std::vector<model::Mat> qkv_norm(const model::Mat& q, const model::Mat& k, const model::Mat& v,
                                   const model::Vec& qw, const model::Vec& kw, int64_t nq, int64_t nkv, int64_t hd,
                                   double eps) override;
  std::vector<model::Mat> rope(const model::Mat& q, const model::Mat& k, model::LayerType type, int64_t nq,
                               int64_t nkv, int64_t hd, const std::vector<int32_t>& positions, int64_t kv_len,
                               bool decode) override;
  model::AttentionResult attention(const model::AttentionArgs& a) override;
  std::vector<model::Mat> post_attn_norm(const model::Mat& o, const model::Mat& residual,
                                         const model::LayerWeights& w, double eps) override;
  model::Mat act(model::DecoderOp op, const model::Mat& gate, const model::Mat& up) override;
  std::vector<model::Mat> routing(const model::Mat& logits, const model::Vec& per_expert_scale,
                                  int64_t topk) override;
  model::Mat experts(const model::Mat& x, const model::Mat& ids, const model::Mat& weights,
                     const model::LayerWeights& w) override;
  model::Mat ffn_tail(const model::Mat& h1, const model::Mat& h2, const model::Mat& residual,
                      const model::LayerWeights& w, double eps) override;
  model::Mat layer_out(const model::Mat& c, const model::Mat& hp, const model::LayerWeights& w, double eps) override;
};

}  // namespace lockstep::reference
