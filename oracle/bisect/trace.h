#pragma once
/// `lockstep bisect --trace FILE`: bisect an activation trace written by someone else (a serving process, via
/// fixtures/lockstep_h5.py write_decoder_trace; layout in fixtures/SCHEMA.md "Decoder traces") against the
/// reference stack recomputed from the same config, seed, weights and inputs.
///
/// The trace holds each layer's output hidden state for every token: layer_out (tokens, layers, hidden) f32,
/// tokens = prefill + recorded decode steps. The reference runs the layers teacher-forced: layer l of step s
/// starts from the trace's layer l - 1 output of that step (layer 0 from the step's embeddings), so its error
/// against the trace's layer l output is what layer l adds by itself. The first (step, layer) over budget is
/// where the trace's drift starts. Routing is tie-aware: a second teacher-forced run swaps each token's K-th
/// expert for its (K+1)-th, and each row is judged against the closer of the two. Default budget: the sum over the layer's ops of their relative budgets
/// (all fused), in ulps at the layer output's scale; or absolute.
#include <string>
#include <vector>

#include "core/model/decoder_stack.h"
#include "oracle/bisect/decoder_bisect.h"

namespace lockstep::bisect {

struct DecoderTrace {
  model::DecoderConfig config;
  std::vector<float> layer_out;  ///< (tokens, layers, hidden)
  std::string source;            ///< the `source` attribute, if any (who wrote it)
};

/// Reads and validates a trace file; every problem is an Error naming `<file>:<object>`.
DecoderTrace read_decoder_trace(const std::string& path);

struct TraceLayerError {
  int64_t step = 0, layer = 0;
  ErrorStats local;   ///< reference layer on the trace's input vs the trace's output
  ErrorStats global;  ///< free-running reference vs the trace
  double budget = 0, used = 0;
  int64_t swapped_rows = 0;  ///< rows closer to the reference with the K-th expert swapped for the (K+1)-th
  bool over() const { return !(used <= 1.0); }
};

struct TraceBisect {
  std::vector<TraceLayerError> layers;  ///< (step, layer) order
  std::string report;
  const TraceLayerError* first_over() const;
};

/// Default relative budget of one whole layer: the sum of op_budget_ulps over its ops, all fusions on.
double layer_budget_ulps();

TraceBisect bisect_trace(const DecoderTrace& trace, const BudgetSpec& budget);

}  // namespace lockstep::bisect
