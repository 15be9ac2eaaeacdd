#include "oracle/bisect/decoder_bisect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <map>

#include "core/dtype.h"
#include "core/error.h"
#include "device/model/decoder_ops.h"
#include "reference/model/decoder_stack.h"

namespace lockstep::bisect {

using model::DecoderOp;
using model::Mat;

namespace {

/// ulp of bf16 at |x| (normal range; the subnormal spacing below 2^-126).
double bf16_ulp(double x) {
  x = std::fabs(x);
  if (!(x > 0) || !std::isfinite(x)) return std::ldexp(1.0, -133);
  int e = 0;
  std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
  return std::ldexp(1.0, std::max(e - 1, -126) - 7);
}

int bucket(double ulps) {
  if (!(ulps == ulps)) return 7;
  if (ulps == 0) return 0;
  if (ulps <= 0.5) return 1;
  if (ulps <= 1) return 2;
  if (ulps <= 2) return 3;
  if (ulps <= 4) return 4;
  if (ulps <= 16) return 5;
  if (ulps <= 256) return 6;
  return 7;
}

size_t op_index(int64_t step, int64_t layer, DecoderOp op, int64_t layers) {
  return static_cast<size_t>((step * layers + layer) * model::kNumDecoderOps + static_cast<int64_t>(op));
}

std::vector<PartRecord> make_parts(DecoderOp op, const std::vector<Mat>& dev, const std::vector<Mat>& local,
                                   const std::vector<Mat>& global) {
  const std::vector<std::string> names = model::op_part_names(op);
  std::vector<PartRecord> parts;
  for (size_t i = 0; i < dev.size(); ++i) {
    PartRecord p;
    p.name = i < names.size() ? names[i] : fmt::format("part{}", i);
    p.rows = dev[i].rows;
    p.cols = dev[i].cols;
    p.device = dev[i].v;
    p.local_ref = local.at(i).v;
    p.global_ref = global.at(i).v;
    const bool exact = p.name == "topk_ids";
    p.local = error_stats(p.device, p.local_ref, exact);
    p.global = error_stats(p.device, p.global_ref, exact);
    parts.push_back(std::move(p));
  }
  return parts;
}

class Recorder : public model::DecoderObserver {
 public:
  explicit Recorder(ReferenceTrace& t) : t_(t) {}
  void output(int64_t step, int64_t layer, DecoderOp op, const std::vector<Mat>& parts) override {
    t_.outputs[op_index(step, layer, op, t_.config.layers)] = parts;
  }

 private:
  ReferenceTrace& t_;
};

struct StopRun {};

/// The device's ops, each paired with the reference op on the same inputs: records a checkpoint per op.
class LockstepOps : public model::DecoderOps {
 public:
  LockstepOps(const ReferenceTrace& ref, const RunOptions& opt, std::vector<Checkpoint>& out)
      : ref_(ref), opt_(opt), dev_(opt.fusions, opt.fault, opt.device), out_(out) {}

  void begin(int64_t step, int64_t layer) override {
    step_ = step;
    layer_ = layer;
  }
  std::vector<Mat> project(DecoderOp op, const Mat& x, const std::vector<const Mat*>& ws) override {
    return record(op, dev_.project(op, x, ws), ref_ops_.project(op, x, ws));
  }
  Mat input_norm(const Mat& x, const model::Vec& w, double eps) override {
    return one(DecoderOp::input_norm, dev_.input_norm(x, w, eps), ref_ops_.input_norm(x, w, eps));
  }
  std::vector<Mat> qkv_norm(const Mat& q, const Mat& k, const Mat& v, const model::Vec& qw, const model::Vec& kw,
                            int64_t nq, int64_t nkv, int64_t hd, double eps) override {
    return record(DecoderOp::qkv_norm, dev_.qkv_norm(q, k, v, qw, kw, nq, nkv, hd, eps),
                  ref_ops_.qkv_norm(q, k, v, qw, kw, nq, nkv, hd, eps));
  }
  std::vector<Mat> rope(const Mat& q, const Mat& k, model::LayerType type, int64_t nq, int64_t nkv, int64_t hd,
                        const std::vector<int32_t>& positions, int64_t kv_len, bool decode) override {
    return record(DecoderOp::rope, dev_.rope(q, k, type, nq, nkv, hd, positions, kv_len, decode),
                  ref_ops_.rope(q, k, type, nq, nkv, hd, positions, kv_len, decode));
  }
  model::AttentionResult attention(const model::AttentionArgs& a) override {
    model::AttentionResult d = dev_.attention(a);
    // The local reference reads the same cache the device read: the device's bf16 values (as written).
    const model::AttentionResult r = ref_ops_.attention(a);
    record(DecoderOp::attention, {d.out}, {r.out});
    return d;
  }
  std::vector<Mat> post_attn_norm(const Mat& o, const Mat& residual, const model::LayerWeights& w,
                                  double eps) override {
    return record(DecoderOp::post_attn_norm, dev_.post_attn_norm(o, residual, w, eps),
                  ref_ops_.post_attn_norm(o, residual, w, eps));
  }
  Mat act(DecoderOp op, const Mat& gate, const Mat& up) override {
    return one(op, dev_.act(op, gate, up), ref_ops_.act(op, gate, up));
  }
  std::vector<Mat> routing(const Mat& logits, const model::Vec& scale, int64_t topk) override {
    return record(DecoderOp::routing, dev_.routing(logits, scale, topk), ref_ops_.routing(logits, scale, topk));
  }
  Mat experts(const Mat& x, const Mat& ids, const Mat& weights, const model::LayerWeights& w) override {
    return one(DecoderOp::experts, dev_.experts(x, ids, weights, w), ref_ops_.experts(x, ids, weights, w));
  }
  Mat ffn_tail(const Mat& h1, const Mat& h2, const Mat& residual, const model::LayerWeights& w, double eps) override {
    return one(DecoderOp::ffn_tail, dev_.ffn_tail(h1, h2, residual, w, eps), ref_ops_.ffn_tail(h1, h2, residual, w, eps));
  }
  Mat layer_out(const Mat& c, const Mat& hp, const model::LayerWeights& w, double eps) override {
    return one(DecoderOp::layer_out, dev_.layer_out(c, hp, w, eps), ref_ops_.layer_out(c, hp, w, eps));
  }

 private:
  Mat one(DecoderOp op, Mat d, Mat r) { return record(op, {std::move(d)}, {std::move(r)})[0]; }
  std::vector<Mat> record(DecoderOp op, std::vector<Mat> dev, const std::vector<Mat>& local) {
    Checkpoint cp;
    cp.step = step_;
    cp.layer = layer_;
    cp.op = op;
    cp.parts = make_parts(op, dev, local, ref_.at(step_, layer_, op));
    cp.budget = opt_.budget.absolute ? opt_.budget.value : op_budget_ulps(op, opt_.fusions) * opt_.budget.value;
    for (const PartRecord& p : cp.parts) {
      double u;
      if (p.local.id_mismatches > 0) u = std::numeric_limits<double>::infinity();
      else u = (opt_.budget.absolute ? p.local.max_abs : p.local.ulps) / cp.budget;
      if (!(u == u)) u = std::numeric_limits<double>::infinity();
      cp.used = std::max(cp.used, u);
      cp.global_nmse = std::max(cp.global_nmse, p.global.nmse);
    }
    if (!opt_.keep_values)
      for (PartRecord& p : cp.parts) p.device.clear(), p.local_ref.clear(), p.global_ref.clear();
    const bool over = cp.over();
    out_.push_back(std::move(cp));
    if (over && opt_.stop_at_first_over) throw StopRun{};
    return dev;
  }

  const ReferenceTrace& ref_;
  const RunOptions& opt_;
  device::DeviceDecoderOps dev_;
  reference::ReferenceDecoderOps ref_ops_;
  std::vector<Checkpoint>& out_;
  int64_t step_ = 0, layer_ = 0;
};

std::string fmt_g(double x) { return std::isinf(x) ? "inf" : fmt::format("{:.3g}", x); }

}  // namespace

ErrorStats error_stats(const std::vector<float>& dev, const std::vector<float>& ref, bool exact) {
  ErrorStats s;
  require(dev.size() == ref.size(), "checkpoint.size", dev.size(), fmt::format("device and reference differ ({})", ref.size()));
  double scale = 0, sd = 0, sr = 0;
  for (float r : ref) scale = std::max(scale, std::fabs(static_cast<double>(r)));
  const double unit = bf16_ulp(scale);
  for (size_t i = 0; i < dev.size(); ++i) {
    const double d = static_cast<double>(dev[i]), r = static_cast<double>(ref[i]);
    const double e = std::fabs(d - r);
    if (exact) {
      s.id_mismatches += d != r;
      continue;
    }
    if (!(e == e)) {
      s.max_abs = s.max_rel = s.ulps = s.nmse = std::numeric_limits<double>::infinity();
      ++s.ulp_hist[7];
      continue;
    }
    s.max_abs = std::max(s.max_abs, e);
    if (r != 0) s.max_rel = std::max(s.max_rel, e / std::fabs(r));
    s.ulps = std::max(s.ulps, e / unit);
    sd += e * e;
    sr += r * r;
    ++s.ulp_hist[static_cast<size_t>(bucket(e / (r != 0 ? bf16_ulp(r) : unit)))];
  }
  if (!exact && std::isfinite(s.nmse)) s.nmse = sr > 0 ? sd / sr : (sd > 0 ? std::numeric_limits<double>::infinity() : 0);
  return s;
}

int op_roundings(DecoderOp op, model::FusionSet fusions) {
  auto fused = [&](model::Fusion f) { return ((fusions >> static_cast<int>(f)) & 1u) != 0; };
  const int act = fused(model::Fusion::gelu_tanh_mul) ? 1 : 2;  // unfused: gelu rounded, then the multiply
  switch (op) {
    case DecoderOp::post_attn_norm:  // unfused: rmsnorm, add_rmsnorm (par), rmsnorm(par), * router_scale
      return fused(model::Fusion::triple_norm) ? 1 : 4;
    case DecoderOp::mlp_act:
    case DecoderOp::ple_act: return act;
    case DecoderOp::experts: return 1 + act + 2;  // gate/up, the activation, down, the weighted sum
    case DecoderOp::ffn_tail:  // unfused: the two norms, the add, rmsnorm_add
      return fused(model::Fusion::dual_norm_tail) ? 1 : 3;
    case DecoderOp::layer_out:  // unfused: rmsnorm, add, * layer_scalar
      return fused(model::Fusion::residual_scalar_tail) ? 1 : 3;
    default: return 1;  // one launch, output rounded once (routing: f32 weights, fp32 softmax error only)
  }
}

double op_budget_ulps(DecoderOp op, model::FusionSet fusions) { return 0.5 * 2.0 * op_roundings(op, fusions) + 0.05; }

const std::vector<Mat>& ReferenceTrace::at(int64_t step, int64_t layer, DecoderOp op) const {
  return outputs.at(op_index(step, layer, op, config.layers));
}

ReferenceTrace run_reference(const model::DecoderConfig& c, const model::DecoderWeights& w) {
  ReferenceTrace t;
  t.config = c;
  t.outputs.resize(static_cast<size_t>(c.steps() * c.layers * model::kNumDecoderOps));
  Recorder rec(t);
  reference::ReferenceDecoderOps ops;
  reference::run_decoder_stack(c, w, ops, &rec);
  return t;
}

const Checkpoint* StackRun::first_over() const {
  for (const Checkpoint& c : checkpoints)
    if (c.over()) return &c;
  return nullptr;
}

StackRun run_lockstep(const ReferenceTrace& ref, const model::DecoderWeights& w, const RunOptions& opt) {
  StackRun run;
  run.options = opt;
  if (!opt.budget.absolute)
    require(opt.budget.value > 0 && std::isfinite(opt.budget.value), "--budget-scale", opt.budget.value,
            "must be a positive finite multiplier of the default budget");
  else
    require(opt.budget.value > 0 && std::isfinite(opt.budget.value), "--budget-abs", opt.budget.value,
            "must be a positive finite max abs error");
  const auto t0 = std::chrono::steady_clock::now();
  LockstepOps ops(ref, run.options, run.checkpoints);
  try {
    reference::run_decoder_stack(ref.config, w, ops, nullptr);
  } catch (const StopRun&) {
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

std::string budget_table(const StackRun& run) {
  struct Row {
    double used = 0;
    const Checkpoint* worst = nullptr;
    double global = 0;
  };
  std::array<Row, model::kNumDecoderOps> rows{};
  for (const Checkpoint& c : run.checkpoints) {
    Row& r = rows[static_cast<size_t>(c.op)];
    if (!r.worst || c.used > r.used) r.used = c.used, r.worst = &c;
    r.global = std::max(r.global, c.global_nmse);
  }
  const bool abs = run.options.budget.absolute;
  std::string s = fmt::format("  {:<15} {:>10} {:>9} {:>16}  {:>12}\n", "op", abs ? "budget" : "budget ulp",
                              "used", "worst at", "global NMSE");
  for (int i = 0; i < model::kNumDecoderOps; ++i) {
    const Row& r = rows[static_cast<size_t>(i)];
    if (!r.worst) continue;
    s += fmt::format("  {:<15} {:>10} {:>8.1f}% {:>16}  {:>12.3e}\n", model::op_name(static_cast<DecoderOp>(i)),
                     fmt_g(r.worst->budget), 100.0 * r.used,
                     fmt::format("step {} layer {}", r.worst->step, r.worst->layer), r.global);
  }
  return s;
}

std::string where_report(const StackRun& run, const ReferenceTrace& ref) {
  const model::DecoderConfig& c = ref.config;
  std::string s = fmt::format(
      "bisect --where: decoder_stack seed {}, {} layers ({} full), {} prefill + {} decode steps, fusions {}, fault "
      "{}\n",
      c.seed, c.layers, [&] {
        int64_t n = 0;
        for (int64_t l = 0; l < c.layers; ++l) n += model::layer_type(c, l) == model::LayerType::full;
        return n;
      }(),
      c.prefill, c.decode_steps, model::fusion_set_str(run.options.fusions), model::fault_name(run.options.fault));
  s += run.options.budget.absolute
           ? fmt::format("budget: absolute, local max |device - reference on the same inputs| <= {}\n",
                         fmt_g(run.options.budget.value))
           : fmt::format("budget: relative, {} x (0.5 ulp_bf16 per rounding on the op's chain, gain 2) at each part's "
                         "scale, local error (reference op on the device's inputs)\n",
                         fmt_g(run.options.budget.value));
  const Checkpoint* bad = run.first_over();
  if (!bad) {
    s += fmt::format("verdict: within budget at all {} checkpoints ({} steps x {} layers x {} ops)\n",
                     run.checkpoints.size(), c.steps(), c.layers, model::kNumDecoderOps);
  } else {
    s += fmt::format("verdict: drift starts at step {} layer {} op {}\n", bad->step, bad->layer, model::op_name(bad->op));
    for (const PartRecord& p : bad->parts) {
      s += fmt::format("  {:<12} local: max_abs {} max_rel {} NMSE {:.3e} ulps {} (budget {}){}\n", p.name,
                       fmt_g(p.local.max_abs), fmt_g(p.local.max_rel), p.local.nmse, fmt_g(p.local.ulps),
                       fmt_g(bad->budget),
                       p.local.id_mismatches ? fmt::format(" ids differ: {}", p.local.id_mismatches) : std::string());
      std::string h;
      for (size_t b = 0; b < kUlpBuckets.size(); ++b) h += fmt::format(" {}:{}", kUlpBuckets[b], p.local.ulp_hist[b]);
      s += fmt::format("  {:<12} ulp histogram:{}\n", "", h);
    }
    s += "chain (ops of this step and layer up to it; local = this op alone, global = vs the double reference stack):\n";
    for (const Checkpoint& cp : run.checkpoints) {
      if (cp.step != bad->step || cp.layer != bad->layer) continue;
      int64_t flips = 0;  // expert ids that differ from the free-running reference's (a near tie rounded the other way)
      for (const PartRecord& p : cp.parts) flips += p.global.id_mismatches;
      s += fmt::format("  {:<15} local {:>7} of budget   global NMSE {:.3e}{}{}\n", model::op_name(cp.op),
                       fmt::format("{:.0f}%", std::min(cp.used, 1e9) * 100), cp.global_nmse,
                       flips ? fmt::format(" (expert ids differ from the reference stack's: {})", flips) : "",
                       &cp == bad ? "   <== first over budget" : "");
      if (&cp == bad) break;
    }
    // The accumulated drift of this layer's output over the steps before (global error only).
    std::string growth;
    for (const Checkpoint& cp : run.checkpoints) {
      if (cp.op != model::DecoderOp::layer_out || cp.layer != bad->layer || cp.step >= bad->step) continue;
      if (cp.step + 4 < bad->step && cp.step != 0 && cp.step % 8 != 0) continue;
      growth += fmt::format(" s{}:{:.2e}", cp.step, cp.global_nmse);
    }
    if (!growth.empty()) s += fmt::format("  layer {} layer_out global NMSE before it:{}\n", bad->layer, growth);
    s += fmt::format("reproduce: lockstep bisect --where --seed {} --layers {} --prefill {} --steps {} --fusions {} --fault {}\n",
                     c.seed, c.layers, c.prefill, c.decode_steps, model::fusion_set_str(run.options.fusions),
                     model::fault_name(run.options.fault));
  }
  s += "per-op budget used (max over steps and layers):\n" + budget_table(run);
  s += fmt::format("time: {:.2f} s for {} checkpoints\n", run.seconds, run.checkpoints.size());
  return s;
}

WhichFusionResult which_fusion(const ReferenceTrace& ref, const model::DecoderWeights& w, model::FusionSet start,
                               const RunOptions& base) {
  WhichFusionResult res;
  res.start = start;
  std::map<model::FusionSet, bool> cache;
  auto drifts = [&](model::FusionSet s) {
    if (auto it = cache.find(s); it != cache.end()) return it->second;
    RunOptions o = base;
    o.fusions = s;
    o.stop_at_first_over = true;
    o.keep_values = false;
    const bool over = run_lockstep(ref, w, o).first_over() != nullptr;
    cache[s] = over;
    res.runs.emplace_back(s, over);
    return over;
  };
  res.start_over = drifts(start);
  std::string& r = res.report;
  r = fmt::format("bisect --which-fusion: fault {}, starting set {}\n", model::fault_name(base.fault),
                  model::fusion_set_str(start));
  if (!res.start_over) {
    r += "verdict: the starting set stays within budget: nothing to bisect\n";
  } else if ((res.none_over = drifts(0))) {
    r += "verdict: the stack drifts beyond budget with no fusion at all: not a fusion's doing (run bisect --where)\n";
  } else {
    // ddmin (Zeller & Hildebrandt 2002) over the fused set: the unfused base never drifts, the start does.
    std::vector<int> c;
    for (int i = 0; i < model::kNumFusions; ++i)
      if (start & (1u << i)) c.push_back(i);
    auto mask = [](const std::vector<int>& v) {
      model::FusionSet m = 0;
      for (int i : v) m |= 1u << i;
      return m;
    };
    size_t n = 2;
    while (c.size() >= 2) {
      std::vector<std::vector<int>> chunks(n);
      for (size_t i = 0; i < c.size(); ++i) chunks[i * n / c.size()].push_back(c[i]);
      bool reduced = false;
      for (const auto& d : chunks)
        if (!d.empty() && drifts(mask(d))) {
          c = d;
          n = 2;
          reduced = true;
          break;
        }
      if (!reduced && n > 2)
        for (const auto& d : chunks) {
          std::vector<int> comp;
          for (int x : c)
            if (std::find(d.begin(), d.end(), x) == d.end()) comp.push_back(x);
          if (!comp.empty() && drifts(mask(comp))) {
            c = comp;
            n = std::max<size_t>(n - 1, 2);
            reduced = true;
            break;
          }
        }
      if (reduced) continue;
      if (n >= c.size()) break;
      n = std::min(2 * n, c.size());
    }
    res.minimal = mask(c);
    r += fmt::format("verdict: minimal responsible fusion set: {}\n", model::fusion_set_str(res.minimal));
    for (int i : c)
      r += fmt::format("  {}: {}\n", model::fusion_name(static_cast<model::Fusion>(i)),
                       model::fusion_description(static_cast<model::Fusion>(i)));
  }
  r += fmt::format("runs ({} distinct sets, each run once):\n", res.runs.size());
  for (const auto& [s, over] : res.runs) r += fmt::format("  {:<60} {}\n", model::fusion_set_str(s), over ? "drifts" : "within budget");
  return res;
}

}  // namespace lockstep::bisect
