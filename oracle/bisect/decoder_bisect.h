#pragma once
/// `lockstep bisect` over the decoder stack (issue 11): checkpoints, error budgets, `--where` and
/// `--which-fusion`.
///
/// One lockstep run walks the stack's model (reference/model/decoder_stack.h) with the device ops
/// (device/model/decoder_ops.h) and, at every op, also runs the reference op on the *device's* inputs. Each
/// checkpoint (step, layer, op) therefore holds, per output part:
///   - the device output;
///   - the local reference: the reference op on the same inputs. |device - local| is the error this op
///     adds by itself (its `local` stats) — upstream drift cancels, so the first op over budget is where
///     drift starts;
///   - the global reference: the free-running double reference stack (no device value ever enters it).
///     |device - global| is the accumulated drift (`global` stats), printed as the chain leading to the op.
///
/// Budget (default, relative): an op's local error is measured in bf16 ulps at the part's scale
/// (unit = ulp_bf16(max |local reference|)); rounding the op's own output to bf16 moves every element by at
/// most 0.5 of that unit. The budget is 0.5 unit per bf16 rounding on the op's longest device chain from its
/// inputs to its output (op_roundings), each propagated with gain <= 2 (norm weights < 1.5, layer scalar
/// <= 1), plus the fp32 accumulation error, which is below 0.05 unit for these sizes. With `absolute`, the
/// budget is one number compared with the local max abs error.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/decoder_stack.h"
#include "device/core/options.h"

namespace lockstep::bisect {

/// Error of one output part against a reference.
struct ErrorStats {
  double max_abs = 0;
  double max_rel = 0;    ///< max |d| / |ref| over elements with ref != 0
  double nmse = 0;       ///< sum d^2 / sum ref^2 (0 when both are 0)
  double ulps = 0;       ///< max |d| in units of ulp_bf16(max |ref|)
  /// Elements by |d| in bf16 ulps of their own reference value: 0, (0, 0.5], (0.5, 1], (1, 2], (2, 4], (4, 16],
  /// (16, 256], > 256 (or NaN).
  std::array<int64_t, 8> ulp_hist{};
  int64_t id_mismatches = 0;  ///< exact parts (topk_ids): elements that differ
};
inline constexpr std::array<const char*, 8> kUlpBuckets{"0", "<=0.5", "<=1", "<=2", "<=4", "<=16", "<=256", ">256"};

ErrorStats error_stats(const std::vector<float>& dev, const std::vector<float>& ref, bool exact);

struct PartRecord {
  std::string name;
  int64_t rows = 0, cols = 0;
  std::vector<float> device, local_ref, global_ref;
  ErrorStats local, global;
};

struct Checkpoint {
  int64_t step = 0, layer = 0;
  model::DecoderOp op = model::DecoderOp::input_norm;
  std::vector<PartRecord> parts;
  double budget = 0;  ///< ulps (relative budget) or max abs (absolute)
  double used = 0;    ///< max over parts of local error / budget; infinite when ids differ
  double global_nmse = 0;  ///< max over parts
  bool over() const { return !(used <= 1.0); }
};

/// The bf16 roundings on the op's device chain from its inputs to its output, as `fusions` configure it (a fused
/// kernel rounds once; its unfused chain once per launch or elementwise step).
int op_roundings(model::DecoderOp op, model::FusionSet fusions);
/// Default relative budget in ulps at the part's scale: 0.5 * 2 * op_roundings + 0.05 (see the header).
double op_budget_ulps(model::DecoderOp op, model::FusionSet fusions);

struct BudgetSpec {
  bool absolute = false;
  double value = 0;  ///< absolute: max abs; relative: a multiplier of op_budget_ulps (1 = the default)
};

/// The free-running reference: every op's output parts, per (step, layer, op). Independent of fusions/faults.
struct ReferenceTrace {
  model::DecoderConfig config;
  std::vector<std::vector<model::Mat>> outputs;  ///< index (step * layers + layer) * kNumDecoderOps + op
  const std::vector<model::Mat>& at(int64_t step, int64_t layer, model::DecoderOp op) const;
};
ReferenceTrace run_reference(const model::DecoderConfig& c, const model::DecoderWeights& w);

struct RunOptions {
  model::FusionSet fusions = model::kAllFusions;
  model::DecoderFault fault = model::DecoderFault::none;
  BudgetSpec budget;
  bool stop_at_first_over = false;  ///< pass/fail runs (which-fusion) stop at the first checkpoint over budget
  bool keep_values = true;          ///< keep every part's values (checkpoint files); stats are always kept
  device::Options device;
};

struct StackRun {
  RunOptions options;
  std::vector<Checkpoint> checkpoints;  ///< (step, layer, op) order
  double seconds = 0;
  const Checkpoint* first_over() const;
};

StackRun run_lockstep(const ReferenceTrace& ref, const model::DecoderWeights& w, const RunOptions& opt);

/// `bisect --where`: the run plus the text report (first checkpoint over budget, the chain of errors leading to
/// it, per-op budget used).
std::string where_report(const StackRun& run, const ReferenceTrace& ref);
/// Per-op budget used (max over steps and layers) as table lines.
std::string budget_table(const StackRun& run);

/// `bisect --which-fusion`: delta debugging (ddmin) over the fusions in `start`; each distinct set run once.
struct WhichFusionResult {
  model::FusionSet start = 0;
  bool start_over = false;   ///< the starting set drifts beyond budget
  bool none_over = false;    ///< with no fusion at all it still drifts (not a fusion's doing)
  model::FusionSet minimal = 0;
  std::vector<std::pair<model::FusionSet, bool>> runs;  ///< each distinct set tried, in order, and whether it drifted
  std::string report;
};
WhichFusionResult which_fusion(const ReferenceTrace& ref, const model::DecoderWeights& w, model::FusionSet start,
                               const RunOptions& base);

/// Writes every checkpoint (values and stats) to an HDF5 file (layout: fixtures/SCHEMA.md "decoder checkpoints").
void write_checkpoints_h5(const StackRun& run, const std::string& path);

}  // namespace lockstep::bisect
