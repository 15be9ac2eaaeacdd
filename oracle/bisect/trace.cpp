#include "oracle/bisect/trace.h"

#include <hdf5.h>

#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <type_traits>

#include "core/error.h"
#include "reference/model/decoder_stack.h"

namespace lockstep::bisect {

using model::Mat;

namespace {

struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

/// An integer attribute of the root, or `fallback` when absent.
int64_t int_attr(hid_t file, const std::string& path, const char* name, int64_t fallback) {
  if (H5Aexists(file, name) <= 0) return fallback;
  Handle a{H5Aopen(file, name, H5P_DEFAULT), H5Aclose};
  Handle space{H5Aget_space(a.id), H5Sclose};
  Handle type{H5Aget_type(a.id), H5Tclose};
  if (a.id < 0 || H5Tget_class(type.id) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.id) != 1)
    throw Error(fmt::format("{}:/@{}", path, name), "", "must be a scalar integer attribute");
  int64_t v = 0;
  if (H5Aread(a.id, H5T_NATIVE_INT64, &v) < 0) throw Error(fmt::format("{}:/@{}", path, name), "", "cannot be read");
  return v;
}

std::string string_attr(hid_t file, const std::string& path, const char* name) {
  if (H5Aexists(file, name) <= 0) return {};
  Handle a{H5Aopen(file, name, H5P_DEFAULT), H5Aclose};
  Handle type{H5Aget_type(a.id), H5Tclose};
  if (a.id < 0 || H5Tget_class(type.id) != H5T_STRING)
    throw Error(fmt::format("{}:/@{}", path, name), "", "must be a string attribute");
  if (H5Tis_variable_str(type.id) > 0) {
    Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(mem.id, H5T_VARIABLE);
    H5Tset_cset(mem.id, H5Tget_cset(type.id));  // h5py writes UTF-8
    char* s = nullptr;
    if (H5Aread(a.id, mem.id, &s) < 0 || !s) throw Error(fmt::format("{}:/@{}", path, name), "", "cannot be read");
    std::string out(s);
    H5free_memory(s);
    return out.substr(0, 256);
  }
  const size_t n = H5Tget_size(type.id);
  if (n > 4096) throw Error(fmt::format("{}:/@{}", path, name), fmt::format("{} bytes", n), "longer than 4096 bytes");
  std::string out(n, '\0');
  Handle mem{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(mem.id, n);
  H5Tset_cset(mem.id, H5Tget_cset(type.id));
  if (H5Aread(a.id, mem.id, out.data()) < 0) throw Error(fmt::format("{}:/@{}", path, name), "", "cannot be read");
  return out.substr(0, out.find('\0'));
}

/// Teacher-forced reference: every layer starts from the trace's previous-layer value; records layer outputs.
class TraceOps : public reference::ReferenceDecoderOps {
 public:
  TraceOps(const DecoderTrace& t, bool kth_excluded) : t_(t), kth_excluded_(kth_excluded) {}
  /// The alternative run excludes each token's K-th expert, so its (K+1)-th takes the place: the selection the
  /// trace's producer makes when its logits round the other way at a near tie of the K-th and (K+1)-th.
  std::vector<Mat> routing(const Mat& logits, const model::Vec& scale, int64_t topk) override {
    std::vector<Mat> r = ReferenceDecoderOps::routing(logits, scale, topk);
    if (!kth_excluded_ || topk >= logits.cols) return r;
    Mat l = logits;
    for (int64_t t = 0; t < l.rows; ++t) l.at(t, static_cast<int64_t>(r[0].at(t, topk - 1))) = -INFINITY;
    return ReferenceDecoderOps::routing(l, scale, topk);
  }
  Mat layer_input(int64_t step, int64_t layer, Mat x) override {
    if (layer == 0) return x;
    return trace_value(step, layer - 1, x.rows);
  }
  Mat trace_value(int64_t step, int64_t layer, int64_t rows) const {
    const model::DecoderConfig& c = t_.config;
    const int64_t first = step == 0 ? 0 : c.prefill + step - 1;
    Mat m(rows, c.hidden);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < c.hidden; ++h)
        m.at(r, h) = t_.layer_out[static_cast<size_t>(((first + r) * c.layers + layer) * c.hidden + h)];
    return m;
  }

 private:
  const DecoderTrace& t_;
  bool kth_excluded_;
};

class LayerOutputs : public model::DecoderObserver {
 public:
  void output(int64_t step, int64_t layer, model::DecoderOp op, const std::vector<Mat>& parts) override {
    if (op == model::DecoderOp::layer_out) out.push_back({step, layer, parts[0]});
  }
  struct Rec {
    int64_t step, layer;
    Mat value;
  };
  std::vector<Rec> out;
};

std::string g3(double x) { return std::isinf(x) ? "inf" : fmt::format("{:.3g}", x); }

}  // namespace

DecoderTrace read_decoder_trace(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Handle file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) throw Error("--trace", path, "cannot open as an HDF5 file");
  DecoderTrace t;
  const std::string kind = string_attr(file.id, path, "kind");
  if (kind != "decoder_trace")
    throw Error(fmt::format("{}:/@kind", path), kind, "must be \"decoder_trace\" (fixtures/SCHEMA.md, Decoder traces)");
  t.source = string_attr(file.id, path, "source");
  model::DecoderConfig& c = t.config;
  auto load = [&](const char* name, auto& value, auto...) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, int64_t>) value = int_attr(file.id, path, name, value);
  };
  c.fields(load);
  if (H5Aexists(file.id, "eps") > 0) {
    Handle a{H5Aopen(file.id, "eps", H5P_DEFAULT), H5Aclose};
    if (H5Aread(a.id, H5T_NATIVE_DOUBLE, &c.eps) < 0) throw Error(path + ":/@eps", "", "cannot be read");
  }
  if (H5Lexists(file.id, "layer_out", H5P_DEFAULT) <= 0)
    throw Error(path + ":/layer_out", "", "missing: the (tokens, layers, hidden) f32 dataset of layer outputs");
  Handle ds{H5Dopen2(file.id, "layer_out", H5P_DEFAULT), H5Dclose};
  Handle space{H5Dget_space(ds.id), H5Sclose};
  Handle type{H5Dget_type(ds.id), H5Tclose};
  if (ds.id < 0 || H5Tget_class(type.id) != H5T_FLOAT)
    throw Error(path + ":/layer_out", "", "must be a float dataset");
  hsize_t dims[3] = {0, 0, 0};
  if (H5Sget_simple_extent_ndims(space.id) != 3) throw Error(path + ":/layer_out", "", "must have rank 3 (tokens, layers, hidden)");
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  const std::string shape = fmt::format("({}, {}, {})", dims[0], dims[1], dims[2]);
  if (static_cast<int64_t>(dims[1]) != c.layers)
    throw Error(path + ":/layer_out", shape, fmt::format("dimension 1 must equal the layers attribute ({})", c.layers));
  if (static_cast<int64_t>(dims[2]) != c.hidden)
    throw Error(path + ":/layer_out", shape, fmt::format("dimension 2 must equal the hidden attribute ({})", c.hidden));
  if (static_cast<int64_t>(dims[0]) < c.prefill)
    throw Error(path + ":/layer_out", shape, fmt::format("needs at least the prefill's {} tokens", c.prefill));
  c.decode_steps = static_cast<int64_t>(dims[0]) - c.prefill;  // the steps the trace recorded
  model::validate(c);
  t.layer_out.resize(dims[0] * dims[1] * dims[2]);
  if (H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.layer_out.data()) < 0)
    throw Error(path + ":/layer_out", shape, "cannot be read");
  return t;
}

double layer_budget_ulps() {
  double b = 0;
  for (int op = 0; op < model::kNumDecoderOps; ++op)
    b += op_budget_ulps(static_cast<model::DecoderOp>(op), model::kAllFusions);
  return b;
}

const TraceLayerError* TraceBisect::first_over() const {
  for (const TraceLayerError& e : layers)
    if (e.over()) return &e;
  return nullptr;
}

TraceBisect bisect_trace(const DecoderTrace& trace, const BudgetSpec& budget) {
  const model::DecoderConfig& c = trace.config;
  const model::DecoderWeights w = model::make_weights(c);
  // Two teacher-forced runs: the reference's own top-K, and the K-th expert swapped for the (K+1)-th. Routing is
  // the stack's only discontinuity (it does not feed the KV cache, so both runs see the same caches); each row
  // is judged against the closer of the two (tie-aware: a near tie may round either way in the trace).
  TraceOps forced(trace, false), swapped(trace, true);
  LayerOutputs local_out, alt_out, global_out;
  reference::run_decoder_stack(c, w, forced, &local_out);
  reference::run_decoder_stack(c, w, swapped, &alt_out);
  reference::ReferenceDecoderOps free;
  reference::run_decoder_stack(c, w, free, &global_out);
  TraceBisect r;
  const double b = budget.absolute ? budget.value : layer_budget_ulps() * budget.value;
  for (size_t i = 0; i < local_out.out.size(); ++i) {
    const auto& rec = local_out.out[i];
    const Mat traced = forced.trace_value(rec.step, rec.layer, rec.value.rows);
    Mat best = rec.value;
    int64_t swapped_rows = 0;
    for (int64_t row = 0; row < best.rows; ++row) {
      double ea = 0, eb = 0;
      for (int64_t h = 0; h < best.cols; ++h) {
        ea = std::max(ea, std::fabs(double(traced.at(row, h)) - rec.value.at(row, h)));
        eb = std::max(eb, std::fabs(double(traced.at(row, h)) - alt_out.out[i].value.at(row, h)));
      }
      if (eb < ea) {
        ++swapped_rows;
        for (int64_t h = 0; h < best.cols; ++h) best.at(row, h) = alt_out.out[i].value.at(row, h);
      }
    }
    TraceLayerError e;
    e.step = rec.step;
    e.layer = rec.layer;
    e.swapped_rows = swapped_rows;
    e.local = error_stats(traced.v, best.v, false);
    e.global = error_stats(traced.v, global_out.out[i].value.v, false);
    e.budget = b;
    e.used = (budget.absolute ? e.local.max_abs : e.local.ulps) / b;
    if (!(e.used == e.used)) e.used = std::numeric_limits<double>::infinity();
    r.layers.push_back(e);
  }
  std::string& s = r.report;
  s = fmt::format("bisect --trace: {} layers, {} prefill + {} decode steps recorded, seed {}{}\n", c.layers, c.prefill,
                  c.decode_steps, c.seed, trace.source.empty() ? "" : ", source " + trace.source);
  s += budget.absolute ? fmt::format("budget: absolute, layer output max abs <= {}\n", g3(b))
                       : fmt::format("budget: relative, {} ulps at each layer output's scale (the layer's op budgets, "
                                     "summed), reference layer run on the trace's own input\n",
                                     g3(b));
  const TraceLayerError* bad = r.first_over();
  if (!bad) {
    s += fmt::format("verdict: the trace is within budget at all {} (step, layer) outputs\n", r.layers.size());
  } else {
    s += fmt::format("verdict: drift starts at step {} layer {}\n", bad->step, bad->layer);
    s += fmt::format("  local: max_abs {} max_rel {} NMSE {:.3e} ulps {} (budget {})\n", g3(bad->local.max_abs),
                     g3(bad->local.max_rel), bad->local.nmse, g3(bad->local.ulps), g3(bad->budget));
    s += "chain (layers of this step; local = the layer alone on the trace's input, global = vs the reference "
         "stack):\n";
    for (const TraceLayerError& e : r.layers) {
      if (e.step != bad->step) continue;
      s += fmt::format("  layer {}  local {:>8} of budget   global NMSE {:.3e}{}\n", e.layer,
                       fmt::format("{:.0f}%", std::min(e.used, 1e9) * 100), e.global.nmse,
                       &e == bad ? "   <== first over budget" : "");
      if (&e == bad) break;
    }
  }
  double worst = 0;
  int64_t swapped_total = 0;
  for (const TraceLayerError& e : r.layers) {
    if (!e.over()) worst = std::max(worst, e.used);
    swapped_total += e.swapped_rows;
  }
  s += fmt::format("largest budget use among in-budget layers: {:.1f}%; token rows judged with the (K+1)-th expert "
                   "in place of the K-th (routing near tie): {}\n",
                   100 * worst, swapped_total);
  return r;
}

}  // namespace lockstep::bisect
