#pragma once
/// `decoder_stack`: a small Gemma-4-shaped decoder stack composed from lockstep's ops (spec
/// shared/spec/gemma4-kvcache-speculative.md §2.4 order), the subject of `lockstep bisect` (issue 11).
///
/// One layer (every layer has the dense MLP, the MoE block and the PLE tail, so every fused op is on the
/// path; sliding or full attention by layer type, 5 sliding : 1 full by default, last layer full):
///   input_norm      rmsnorm(x, w_in)                                        (T, H)
///   qkv_proj        q = h Wq^T, k = h Wk^T, v = h Wv^T                       (T, nq*hd), (T, nkv*hd) x2
///   qkv_norm        qkv_rmsnorm (q, k weighted; v no weight)
///   rope            rope (sliding: default, theta 1e4; full: proportional 0.25, theta 1e6)
///   attention       ragged_paged_attention over this layer's paged KV cache (scaling 1.0; sliding window
///                   on sliding layers), writes the new tokens' K/V                      (T, nq*hd)
///   o_proj          attn Wo^T                                                 (T, H)
///   post_attn_norm  post_attn_triple_rmsnorm(o, x, w_post_attn, router_scale, w_pre_ff, w_pre_ff_2)
///                   -> par, router_in, dense_ff_in, moe_in
///   mlp_gate_up     gate = dense_ff_in Wg^T, up = dense_ff_in Wu^T             (T, I) x2
///   mlp_act         gelu_tanh_mul(gate, up)
///   mlp_down        (T, I) -> (T, H)                                           h1
///   router_proj     router_in Wr^T                                             (T, E) logits
///   routing         moe_routing(logits, per_expert_scale, K)  -> ids, weights  (T, K)
///   experts         sum_k w_k * down_e(gelu_tanh_mul(gate_e(moe_in), up_e(moe_in)))   h2 (T, H)
///   ffn_tail        dual_rmsnorm_residual_scalar(h1, w_pf1, h2, w_pf2, w_pf, par, 1)   hp
///   ple_gate        hp Wpg^T                                                   (T, ple)
///   ple_act         gelu_tanh_mul(g, per_layer_input)
///   ple_proj        (T, ple) -> (T, H)                                         c
///   layer_out       rmsnorm_residual_scalar(c, w_post_ple, hp, layer_scalar)   next x
///
/// The layer's order lives once, in reference/model/decoder_stack.cpp (`run_decoder_stack`), over the
/// abstract `DecoderOps` below: the reference implements them in double (reference/ ops), the device in bf16
/// with each fusion switchable (device/model/decoder_ops.h), and the oracle pairs the two per op
/// (oracle/bisect/). One sequence: P prefill tokens at step 0, then one token per decode step.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fields.h"
#include "core/norm/qkv_rmsnorm.h"
#include "core/norm/rmsnorm.h"

namespace lockstep::model {

enum class LayerType : int { sliding = 0, full = 1 };

struct DecoderConfig {
  int64_t seed = 1;              ///< weights, inputs and page order are a pure function of (config, seed)
  int64_t layers = 6;
  int64_t full_every = 6;        ///< layer i is full when (i + 1) % full_every == 0; the last layer is full
  int64_t prefill = 16;          ///< P tokens at step 0
  int64_t decode_steps = 64;     ///< S steps of one token after the prefill
  int64_t hidden = 128;
  int64_t q_heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 32;         ///< sliding layers
  int64_t full_head_dim = 64;    ///< full layers (Gemma-4's global_head_dim)
  int64_t intermediate = 256;
  int64_t experts = 8;
  int64_t topk = 2;
  int64_t expert_intermediate = 64;
  int64_t ple_dim = 32;
  int64_t page_size = 4;
  int64_t sliding_window = 24;
  double eps = 1e-6;

  template <class V>
  void fields(V& v) {
    v("seed", seed, IntRange{INT64_MIN, INT64_MAX});
    v("layers", layers, IntRange{1, 64});
    v("full_every", full_every, IntRange{1, 64});
    v("prefill", prefill, IntRange{1, 4096});
    v("decode_steps", decode_steps, IntRange{0, 4096});
    v("hidden", hidden, IntRange{2, 4096});
    v("q_heads", q_heads, IntRange{1, 64});
    v("kv_heads", kv_heads, IntRange{1, 64});
    v("head_dim", head_dim, IntRange{2, 512});
    v("full_head_dim", full_head_dim, IntRange{2, 512});
    v("intermediate", intermediate, IntRange{1, 16384});
    v("experts", experts, IntRange{1, 256});
    v("topk", topk, IntRange{1, 8});
    v("expert_intermediate", expert_intermediate, IntRange{1, 4096});
    v("ple_dim", ple_dim, IntRange{1, 1024});
    v("page_size", page_size, IntRange{1, 256});
    v("sliding_window", sliding_window, IntRange{1, 1 << 20});
    v("eps", eps);
  }

  int64_t steps() const { return 1 + decode_steps; }
  int64_t total_tokens() const { return prefill + decode_steps; }
};

/// Throws Error naming the field (`decoder.topk = 9: ...`) for out-of-range or inconsistent values
/// (topk > experts, q_heads not a multiple of kv_heads, odd head dims, ...).
void validate(const DecoderConfig& c);

LayerType layer_type(const DecoderConfig& c, int64_t layer);
int64_t layer_head_dim(const DecoderConfig& c, int64_t layer);

/// A row-major float matrix. Every value the stack passes between ops is a float: the device's values are
/// bf16 numbers held exactly in floats, the reference's are its f32-stored outputs of double arithmetic.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<float> v;
  Mat() = default;
  Mat(int64_t r, int64_t c) : rows(r), cols(c), v(static_cast<size_t>(r * c), 0.0f) {}
  float& at(int64_t r, int64_t c) { return v[static_cast<size_t>(r * cols + c)]; }
  float at(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};
using Vec = std::vector<float>;

/// The stack's activations handed to an op's case and back: a matrix / vector as a tensor of `dt` (each value
/// rounded to it), and a tensor's values as a matrix (as stored, in float).
Tensor to_tensor(const Mat& m, Shape shape, DType dt);
Tensor to_tensor(const Vec& v, DType dt);
Mat to_mat(const Tensor& t, int64_t rows, int64_t cols);
/// An rmsnorm case of `variant` over the rows of `x` (stored as `dt`); the caller sets weights and residuals.
RmsNormCase norm_case(RmsNormVariant variant, const Mat& x, double eps, DType dt);
/// The per-head q/k/v norm case of a layer ((T, heads * hd) activations, weights (hd); v has none), stored as `dt`.
QkvRmsNormCase qkv_norm_case(const Mat& q, const Mat& k, const Mat& v, const Vec& qw, const Vec& kw, int64_t nq,
                             int64_t nkv, int64_t hd, double eps, DType dt);

/// One layer's weights; every value is bf16-representable (both sides read the same numbers).
/// Projections are (out, in); norm weights in [0.5, 1.5]; router_scale is Gemma-4's fused
/// bf16(bf16(scale) * bf16(H^-0.5)) (§2.3).
struct LayerWeights {
  Vec input_norm;                    // (H)
  Mat wq, wk, wv;                    // (nq*hd, H), (nkv*hd, H) x2
  Vec q_norm, k_norm;                // (hd)
  Mat wo;                            // (H, nq*hd)
  Vec post_attn_norm, router_scale, pre_ff_norm, pre_ff_norm_2;  // (H)
  Mat w_gate, w_up, w_down;          // (I, H) x2, (H, I)
  Mat w_router;                      // (E, H)
  Vec per_expert_scale;              // (E)
  std::vector<Mat> e_gate, e_up, e_down;  // E x (Ie, H), (Ie, H), (H, Ie)
  Vec post_ff_norm_1, post_ff_norm_2, post_ff_norm;  // (H)
  Mat w_ple_gate, w_ple_proj;        // (ple, H), (H, ple)
  Vec post_ple_norm;                 // (H)
  float layer_scalar = 1.0f;
};

struct DecoderWeights {
  std::vector<LayerWeights> layers;
};

/// Weights drawn from `c.seed` (no downloads), rounded to bf16.
DecoderWeights make_weights(const DecoderConfig& c);

/// The tokens of one step: step 0 = the P prefill tokens, step s >= 1 = decode token P + s - 1.
struct StepInput {
  Mat x;                        ///< (T, H) input embeddings (bf16 values)
  std::vector<Mat> ple;         ///< per layer (T, ple) per-layer inputs (bf16 values)
  std::vector<int32_t> positions;  ///< (T) absolute positions
  int64_t kv_len = 0;           ///< keys after this step (cached prefix + T)
  bool decode = false;
};
StepInput make_step_input(const DecoderConfig& c, int64_t step);

/// The paged KV layout every layer shares: a shuffled page order drawn from the seed (pages scattered in
/// the pool, as a serving allocator leaves them). page_indices (pages_per_seq), pool of num_pages pages.
struct PageLayout {
  std::vector<int32_t> page_indices;
  int64_t num_pages = 0;
};
PageLayout make_page_layout(const DecoderConfig& c);

/// The model ops, in layer order; `kNumDecoderOps` of them per (step, layer).
enum class DecoderOp : int {
  input_norm = 0, qkv_proj, qkv_norm, rope, attention, o_proj, post_attn_norm, mlp_gate_up, mlp_act, mlp_down,
  router_proj, routing, experts, ffn_tail, ple_gate, ple_act, ple_proj, layer_out
};
inline constexpr int kNumDecoderOps = 18;
const char* op_name(DecoderOp op);
/// Parses an op name; throws Error naming `field`.
DecoderOp parse_op(std::string_view name, const std::string& field);
/// Names of an op's outputs, in the order its Parts come.
std::vector<std::string> op_part_names(DecoderOp op);

/// The fusion toggles of the device stack: on = the fused kernel, off = the unfused chain of simpler kernels.
enum class Fusion : int {
  qkv_norm = 0,          ///< qkv_rmsnorm vs three rmsnorm launches (q, k weighted; v no weight)
  rope_positions,        ///< rope positions derived on the device from kv_len vs the host's positions tensor
  kv_write,              ///< the attention kernel writes the new K/V into the paged cache vs a separate store
  triple_norm,           ///< post_attn_triple_rmsnorm vs rmsnorm -> add_rmsnorm -> rmsnorm(par) * scale, rmsnorm
  gelu_tanh_mul,         ///< gelu_tanh_mul vs gelu (rounded) then a separate multiply
  routing,               ///< the fused moe_routing kernel vs torch-style topk + softmax + scale
  dual_norm_tail,        ///< dual_rmsnorm_residual_scalar vs two rmsnorms, an add, rmsnorm_add
  residual_scalar_tail,  ///< rmsnorm_residual_scalar vs rmsnorm, add, multiply
};
inline constexpr int kNumFusions = 8;
using FusionSet = uint32_t;  ///< bit i = Fusion i fused
inline constexpr FusionSet kAllFusions = (1u << kNumFusions) - 1;
const char* fusion_name(Fusion f);
const char* fusion_description(Fusion f);
/// "all", "none" or a comma-separated list of fusion names; throws Error naming `field` and the bad name.
FusionSet parse_fusions(std::string_view text, const std::string& field);
/// "none", "all" or the comma-separated names.
std::string fusion_set_str(FusionSet s);

/// Drift faults of the device stack (test-only, never on by default). Each lives on one fusion's fused path.
enum class DecoderFault : int {
  none = 0,
  fused_norm_accumulates_in_bf16,      ///< triple_norm: the fused kernel's sums of squares accumulate in bf16
  rope_position_off_by_one_on_decode,  ///< rope_positions: decode positions derived as kv_len, not kv_len - 1
  routing_weights_not_scaled,          ///< routing: the fused kernel drops per_expert_scale
  kv_written_bf16_read_as_f16,         ///< kv_write: the cache holds bf16 bits, the fused read takes them as f16
};
inline constexpr int kNumDecoderFaults = 5;
const char* fault_name(DecoderFault f);
const char* fault_description(DecoderFault f);
Fusion fault_fusion(DecoderFault f);
/// "none" or a fault name; throws Error naming `field` with the known names.
DecoderFault parse_decoder_fault(std::string_view name, const std::string& field);

/// Arguments of one attention call. cache: (num_pages, page_size * 2 * nkv * hd), heads interleaved
/// K0,V0,K1,V1 as ragged_paged_attention's kv_cache.
struct AttentionArgs {
  LayerType type = LayerType::sliding;
  int64_t q_heads = 0, kv_heads = 0, head_dim = 0, page_size = 0, sliding_window = 0;
  const Mat* q = nullptr;  // (T, nq*hd)
  const Mat* k = nullptr;  // (T, nkv*hd)
  const Mat* v = nullptr;
  const Mat* cache = nullptr;
  const std::vector<int32_t>* page_indices = nullptr;
  int64_t kv_len = 0;
};
struct AttentionResult {
  Mat out;    // (T, nq*hd)
  Mat cache;  // updated cache
};

/// The ops one layer calls, each on the values the stack passes it. Every op returns its outputs ("parts",
/// op_part_names order); the stack calls begin(step, layer) before each layer.
class DecoderOps {
 public:
  virtual ~DecoderOps() = default;
  virtual void begin(int64_t step, int64_t layer) { (void)step, (void)layer; }
  /// The hidden state layer `layer` starts from (the previous layer's output, or the step's embeddings). A
  /// trace bisection substitutes the external trace's value here (oracle/bisect/trace.h).
  virtual Mat layer_input(int64_t step, int64_t layer, Mat x) {
    (void)step, (void)layer;
    return x;
  }
  /// x (T, in) times each w (out, in) transposed: one part per weight.
  virtual std::vector<Mat> project(DecoderOp op, const Mat& x, const std::vector<const Mat*>& ws) = 0;
  virtual Mat input_norm(const Mat& x, const Vec& w, double eps) = 0;
  virtual std::vector<Mat> qkv_norm(const Mat& q, const Mat& k, const Mat& v, const Vec& qw, const Vec& kw,
                                    int64_t nq, int64_t nkv, int64_t hd, double eps) = 0;
  /// `positions` are the tokens' absolute positions; `kv_len` the keys after this step (a device path may
  /// derive the positions from it).
  virtual std::vector<Mat> rope(const Mat& q, const Mat& k, LayerType type, int64_t nq, int64_t nkv, int64_t hd,
                                const std::vector<int32_t>& positions, int64_t kv_len, bool decode) = 0;
  virtual AttentionResult attention(const AttentionArgs& a) = 0;
  /// -> par, router_in, dense_ff_in, moe_in
  virtual std::vector<Mat> post_attn_norm(const Mat& o, const Mat& residual, const LayerWeights& w, double eps) = 0;
  virtual Mat act(DecoderOp op, const Mat& gate, const Mat& up) = 0;
  /// -> ids (T, K) as floats, weights (T, K)
  virtual std::vector<Mat> routing(const Mat& logits, const Vec& per_expert_scale, int64_t topk) = 0;
  virtual Mat experts(const Mat& x, const Mat& ids, const Mat& weights, const LayerWeights& w) = 0;
  virtual Mat ffn_tail(const Mat& h1, const Mat& h2, const Mat& residual, const LayerWeights& w, double eps) = 0;
  virtual Mat layer_out(const Mat& c, const Mat& hp, const LayerWeights& w, double eps) = 0;
};

/// What the stack reports after each op: (step, layer, op) and its output parts.
class DecoderObserver {
 public:
  virtual ~DecoderObserver() = default;
  virtual void output(int64_t step, int64_t layer, DecoderOp op, const std::vector<Mat>& parts) = 0;
};

}  // namespace lockstep::model
