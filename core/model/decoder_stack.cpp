#include "core/model/decoder_stack.h"

#include <cmath>
#include <tuple>
#include <fmt/ranges.h>
#include <fmt/format.h>

#include "core/data.h"
#include "core/dtype.h"
#include "core/error.h"

namespace lockstep::model {

void validate(const DecoderConfig& c0) {
  DecoderConfig c = c0;
  auto check = [&](const char* name, auto& value, auto... extra) {
    if constexpr (sizeof...(extra) > 0) {
      const IntRange r = std::get<0>(std::tuple{extra...});
      require(value >= r.lo && value <= r.hi, fmt::format("decoder.{}", name), value,
              fmt::format("must be in [{}, {}]", r.lo, r.hi));
    }
  };
  c.fields(check);
  require(c.topk <= c.experts, "decoder.topk", c.topk, fmt::format("must be <= experts ({})", c.experts));
  require(c.q_heads % c.kv_heads == 0, "decoder.q_heads", c.q_heads,
          fmt::format("must be a multiple of kv_heads ({})", c.kv_heads));
  require(c.head_dim % 2 == 0, "decoder.head_dim", c.head_dim, "must be even (RoPE pairs)");
  require(c.full_head_dim % 8 == 0, "decoder.full_head_dim", c.full_head_dim,
          "must be a multiple of 8 (proportional RoPE rotates int(0.25 * hd) // 2 pairs)");
  require(std::isfinite(c.eps) && c.eps >= 1e-30 && c.eps <= 1.0, "decoder.eps", c.eps, "must be in [1e-30, 1]");
  require(c.total_tokens() <= (int64_t{1} << 20), "decoder.decode_steps", c.decode_steps,
          fmt::format("prefill + decode_steps = {} exceeds 2^20 tokens", c.total_tokens()));
}

LayerType layer_type(const DecoderConfig& c, int64_t layer) {
  if (layer == c.layers - 1) return LayerType::full;
  return (layer + 1) % c.full_every == 0 ? LayerType::full : LayerType::sliding;
}

int64_t layer_head_dim(const DecoderConfig& c, int64_t layer) {
  return layer_type(c, layer) == LayerType::full ? c.full_head_dim : c.head_dim;
}

namespace {

float bf(double v) { return to_float(to_bf16(static_cast<float>(v))); }

struct Draw {
  SplitMix rng;
  float uniform(double lo, double hi) { return bf(lo + (hi - lo) * rng.uniform()); }
  Mat mat(int64_t rows, int64_t cols) {  // (out, in): uniform +-sqrt(3 / in), unit gain
    Mat m(rows, cols);
    const double a = std::sqrt(3.0 / static_cast<double>(cols));
    for (auto& x : m.v) x = uniform(-a, a);
    return m;
  }
  Vec vec(int64_t n, double lo, double hi) {
    Vec v(static_cast<size_t>(n));
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
};

uint64_t mix(int64_t seed, uint64_t stream) {
  SplitMix s{static_cast<uint64_t>(seed) ^ (stream * 0x9e3779b97f4a7c15ull)};
  return s.next();
}

}  // namespace

DecoderWeights make_weights(const DecoderConfig& c) {
  validate(c);
  DecoderWeights w;
  const int64_t H = c.hidden;
  for (int64_t l = 0; l < c.layers; ++l) {
    Draw d{SplitMix{mix(c.seed, 1000 + static_cast<uint64_t>(l))}};
    const int64_t hd = layer_head_dim(c, l);
    LayerWeights L;
    L.input_norm = d.vec(H, 0.5, 1.5);
    L.wq = d.mat(c.q_heads * hd, H);
    L.wk = d.mat(c.kv_heads * hd, H);
    L.wv = d.mat(c.kv_heads * hd, H);
    L.q_norm = d.vec(hd, 0.5, 1.5);
    L.k_norm = d.vec(hd, 0.5, 1.5);
    L.wo = d.mat(H, c.q_heads * hd);
    L.post_attn_norm = d.vec(H, 0.5, 1.5);
    const float root = bf(std::pow(static_cast<double>(H), -0.5));
    L.router_scale = d.vec(H, 0.5, 1.5);
    for (auto& s : L.router_scale) s = bf(static_cast<double>(s) * root);
    L.pre_ff_norm = d.vec(H, 0.5, 1.5);
    L.pre_ff_norm_2 = d.vec(H, 0.5, 1.5);
    L.w_gate = d.mat(c.intermediate, H);
    L.w_up = d.mat(c.intermediate, H);
    L.w_down = d.mat(H, c.intermediate);
    L.w_router = d.mat(c.experts, H);
    for (auto& x : L.w_router.v) x = bf(static_cast<double>(x) * 4.0);  // logits of spread ~ several units
    L.per_expert_scale = d.vec(c.experts, 0.5, 1.5);
    for (int64_t e = 0; e < c.experts; ++e) {
      L.e_gate.push_back(d.mat(c.expert_intermediate, H));
      L.e_up.push_back(d.mat(c.expert_intermediate, H));
      L.e_down.push_back(d.mat(H, c.expert_intermediate));
    }
    L.post_ff_norm_1 = d.vec(H, 0.5, 1.5);
    L.post_ff_norm_2 = d.vec(H, 0.5, 1.5);
    L.post_ff_norm = d.vec(H, 0.5, 1.5);
    L.w_ple_gate = d.mat(c.ple_dim, H);
    L.w_ple_proj = d.mat(H, c.ple_dim);
    L.post_ple_norm = d.vec(H, 0.5, 1.5);
    L.layer_scalar = d.uniform(0.5, 1.0);
    w.layers.push_back(std::move(L));
  }
  return w;
}

StepInput make_step_input(const DecoderConfig& c, int64_t step) {
  StepInput in;
  const int64_t T = step == 0 ? c.prefill : 1;
  const int64_t first = step == 0 ? 0 : c.prefill + step - 1;
  in.decode = step > 0;
  in.kv_len = first + T;
  Draw d{SplitMix{mix(c.seed, 1u + static_cast<uint64_t>(step))}};
  in.x = Mat(T, c.hidden);
  for (auto& x : in.x.v) x = d.uniform(-1.0, 1.0);
  for (int64_t l = 0; l < c.layers; ++l) {
    Mat p(T, c.ple_dim);
    for (auto& x : p.v) x = d.uniform(-1.0, 1.0);
    in.ple.push_back(std::move(p));
  }
  for (int64_t t = 0; t < T; ++t) in.positions.push_back(static_cast<int32_t>(first + t));
  return in;
}

PageLayout make_page_layout(const DecoderConfig& c) {
  PageLayout p;
  const int64_t pages = (c.total_tokens() + c.page_size - 1) / c.page_size;
  p.num_pages = pages + 3;  // a few pages no request owns
  std::vector<int32_t> order(static_cast<size_t>(p.num_pages));
  for (int64_t i = 0; i < p.num_pages; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  SplitMix rng{mix(c.seed, 7)};
  for (int64_t i = p.num_pages - 1; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.below(i + 1))]);
  p.page_indices.assign(order.begin(), order.begin() + pages);
  return p;
}

namespace {
constexpr std::array<const char*, kNumDecoderOps> kOpNames{
    "input_norm", "qkv_proj", "qkv_norm", "rope",     "attention", "o_proj",   "post_attn_norm", "mlp_gate_up",
    "mlp_act",    "mlp_down", "router_proj", "routing", "experts", "ffn_tail", "ple_gate",       "ple_act",
    "ple_proj",   "layer_out"};
constexpr std::array<const char*, kNumFusions> kFusionNames{
    "qkv_norm", "rope_positions", "kv_write", "triple_norm", "gelu_tanh_mul", "routing", "dual_norm_tail",
    "residual_scalar_tail"};
constexpr std::array<const char*, kNumFusions> kFusionDescriptions{
    "qkv_rmsnorm (one launch) vs three rmsnorm launches (q, k weighted, v without weight)",
    "decode/prefill positions derived on the device from kv_len vs the host's positions tensor",
    "the attention kernel writes the new K/V into the paged cache vs a separate store before attention",
    "post_attn_triple_rmsnorm (par kept in fp32) vs rmsnorm -> add_rmsnorm -> rmsnorm(par) * router_scale, "
    "rmsnorm(par) * w_pre_ff_2",
    "gelu_tanh_mul vs gelu_tanh rounded to bf16 then a separate multiply",
    "the fused moe_routing kernel vs torch-style routing (fp32 topk, softmax over the K, * scale)",
    "dual_rmsnorm_residual_scalar vs post_ff_1 and post_ff_2 rmsnorms, an add, then rmsnorm_add",
    "rmsnorm_residual_scalar vs rmsnorm, add the residual, multiply by the layer scalar (each rounded)"};
constexpr std::array<const char*, kNumDecoderFaults> kFaultNames{
    "none", "fused_norm_accumulates_in_bf16", "rope_position_off_by_one_on_decode", "routing_weights_not_scaled",
    "kv_written_bf16_read_as_f16"};
constexpr std::array<const char*, kNumDecoderFaults> kFaultDescriptions{
    "no fault",
    "post_attn_triple_rmsnorm (fused) accumulates each sum of squares serially in bf16",
    "the fused position path gives a decode token position kv_len instead of kv_len - 1",
    "the fused moe_routing kernel returns softmax weights without the per_expert_scale multiply",
    "the fused write+attend path stores the cache as bf16 and reads the cached keys/values as f16 bits"};
}  // namespace

const char* op_name(DecoderOp op) { return kOpNames[static_cast<size_t>(op)]; }

DecoderOp parse_op(std::string_view name, const std::string& field) {
  for (int i = 0; i < kNumDecoderOps; ++i)
    if (name == kOpNames[static_cast<size_t>(i)]) return static_cast<DecoderOp>(i);
  throw Error(field, std::string(name), fmt::format("unknown decoder op (one of: {})", fmt::join(kOpNames, ", ")));
}

std::vector<std::string> op_part_names(DecoderOp op) {
  switch (op) {
    case DecoderOp::qkv_proj:
    case DecoderOp::qkv_norm: return {"q", "k", "v"};
    case DecoderOp::rope: return {"q", "k"};
    case DecoderOp::post_attn_norm: return {"par", "router_in", "dense_ff_in", "moe_in"};
    case DecoderOp::mlp_gate_up: return {"gate", "up"};
    case DecoderOp::routing: return {"topk_ids", "topk_weights"};
    default: return {"out"};
  }
}

const char* fusion_name(Fusion f) { return kFusionNames[static_cast<size_t>(f)]; }
const char* fusion_description(Fusion f) { return kFusionDescriptions[static_cast<size_t>(f)]; }

FusionSet parse_fusions(std::string_view text, const std::string& field) {
  if (text == "all") return kAllFusions;
  if (text == "none" || text.empty()) return 0;
  FusionSet s = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string_view name = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    int found = -1;
    for (int i = 0; i < kNumFusions; ++i)
      if (name == kFusionNames[static_cast<size_t>(i)]) found = i;
    if (found < 0)
      throw Error(field, std::string(name),
                  fmt::format("unknown fusion (all, none, or a comma-separated list of: {})", fmt::join(kFusionNames, ", ")));
    s |= 1u << found;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return s;
}

std::string fusion_set_str(FusionSet s) {
  if (s == 0) return "none";
  if (s == kAllFusions) return "all";
  std::string out;
  for (int i = 0; i < kNumFusions; ++i)
    if (s & (1u << i)) out += (out.empty() ? "" : ",") + std::string(kFusionNames[static_cast<size_t>(i)]);
  return out;
}

const char* fault_name(DecoderFault f) { return kFaultNames[static_cast<size_t>(f)]; }
const char* fault_description(DecoderFault f) { return kFaultDescriptions[static_cast<size_t>(f)]; }

Fusion fault_fusion(DecoderFault f) {
  switch (f) {
    case DecoderFault::fused_norm_accumulates_in_bf16: return Fusion::triple_norm;
    case DecoderFault::rope_position_off_by_one_on_decode: return Fusion::rope_positions;
    case DecoderFault::routing_weights_not_scaled: return Fusion::routing;
    case DecoderFault::kv_written_bf16_read_as_f16: return Fusion::kv_write;
    default: throw Error("fault", fault_name(f), "has no fusion");
  }
}

DecoderFault parse_decoder_fault(std::string_view name, const std::string& field) {
  if (name.empty()) return DecoderFault::none;
  for (int i = 0; i < kNumDecoderFaults; ++i)
    if (name == kFaultNames[static_cast<size_t>(i)]) return static_cast<DecoderFault>(i);
  throw Error(field, std::string(name),
              fmt::format("unknown decoder_stack fault (one of: {})", fmt::join(kFaultNames, ", ")));
}

Tensor to_tensor(const Mat& m, Shape shape, DType dt) {
  Tensor t(dt, std::move(shape));
  for (size_t i = 0; i < m.v.size(); ++i) t.set(static_cast<int64_t>(i), m.v[i]);
  return t;
}

Tensor to_tensor(const Vec& v, DType dt) {
  Tensor t(dt, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  return t;
}

Mat to_mat(const Tensor& t, int64_t rows, int64_t cols) {
  Mat m(rows, cols);
  const std::vector<double> v = t.values();
  for (size_t i = 0; i < v.size(); ++i) m.v[i] = static_cast<float>(v[i]);
  return m;
}

RmsNormCase norm_case(RmsNormVariant variant, const Mat& x, double eps, DType dt) {
  RmsNormCase n;
  n.variant = variant;
  n.dtype = dt;
  n.eps = eps;
  n.x = to_tensor(x, {x.rows, x.cols}, dt);
  return n;
}

QkvRmsNormCase qkv_norm_case(const Mat& q, const Mat& k, const Mat& v, const Vec& qw, const Vec& kw, int64_t nq,
                             int64_t nkv, int64_t hd, double eps, DType dt) {
  QkvRmsNormCase n;
  n.dtype = dt;
  n.num_q_heads = nq;
  n.num_kv_heads = nkv;
  n.head_dim = hd;
  n.eps = eps;
  n.q = to_tensor(q, {q.rows, q.cols}, dt);
  n.k = to_tensor(k, {k.rows, k.cols}, dt);
  n.v = to_tensor(v, {v.rows, v.cols}, dt);
  n.q_weight = to_tensor(qw, dt);
  n.k_weight = to_tensor(kw, dt);
  return n;
}

}  // namespace lockstep::model
