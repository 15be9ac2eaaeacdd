#pragma once
/// The device side of the decoder stack (core/model/decoder_stack.h): every op through lockstep's device
/// kernels in bf16 (storage bf16, fp32 accumulation), each fusion switchable (model::Fusion): on = the fused
/// kernel, off = the unfused chain of simpler kernel launches with bf16 intermediates, as an eager serving
/// path runs it. Projections are a plain bf16 matmul with fp32 accumulation, rounded once to bf16.
/// Drift faults (model::DecoderFault) act only on their fusion's fused path.
#include <vector>

#include "core/model/decoder_stack.h"
#include "device/core/options.h"

namespace lockstep::device {

/// x (T, in) times w (out, in) transposed, fp32 accumulation in input order, each output rounded to bf16.
model::Mat matmul_bf16(const model::Mat& x, const model::Mat& w);

class DeviceDecoderOps : public model::DecoderOps {
 public:
  DeviceDecoderOps(model::FusionSet fusions, model::DecoderFault fault, Options options = {})
      : fusions_(fusions), fault_(fault), options_(options) {}

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

 private:
  bool fused(model::Fusion f) const { return (fusions_ >> static_cast<int>(f)) & 1u; }
  bool fault(model::DecoderFault f) const { return fault_ == f; }
  model::Mat norm(const model::Mat& x, const model::Vec* w, double eps) const;  // plain rmsnorm launch
  model::FusionSet fusions_;
  model::DecoderFault fault_;
  Options options_;
};

}  // namespace lockstep::device
