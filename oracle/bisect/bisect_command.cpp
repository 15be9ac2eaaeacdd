#include "oracle/bisect/bisect_command.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>
#include <fmt/format.h>

#include "core/error.h"
#include "oracle/bisect/decoder_bisect.h"
#include "oracle/bisect/trace.h"

namespace lockstep::bisect {
namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

/// Runs fixtures/bisect_plot.py on a checkpoint file; the text report never depends on it (a missing matplotlib
/// or Python is one note line).
void plot(const std::string& checkpoints, const std::string& prefix) {
  const std::string script = std::string(LOCKSTEP_SOURCE_DIR) + "/fixtures/bisect_plot.py";
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  if (!std::filesystem::exists(script)) {
    fmt::print("pictures: not drawn ({} is not there)\n", script);
    return;
  }
  std::fflush(stdout);
  const int status = std::system(
      (python + " " + shell_quote(script) + " " + shell_quote(checkpoints) + " " + shell_quote(prefix) + " 2>/dev/null")
          .c_str());
  const int rc = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (rc == 3) fmt::print("pictures: not drawn (matplotlib is not installed: Debian python3-matplotlib)\n");
  else if (rc != 0) fmt::print("pictures: not drawn ({} exited {})\n", script, rc);
}

}  // namespace

int run_bisect_command(const BisectArgs& a) {
  if (!a.trace.empty()) {
    require(!a.which_fusion, "--which-fusion", "set", "does not apply to --trace (an external trace has no toggles)");
    require(a.checkpoints.empty(), "--checkpoints", a.checkpoints, "does not apply to --trace");
    BudgetSpec b;
    b.absolute = a.budget_abs != 0;
    b.value = b.absolute ? a.budget_abs : a.budget_scale;
    require(b.value > 0 && std::isfinite(b.value), b.absolute ? "--budget-abs" : "--budget-scale", b.value,
            "must be positive and finite");
    const TraceBisect r = bisect_trace(read_decoder_trace(a.trace), b);
    fmt::print("{}", r.report);
    return r.first_over() ? 1 : 0;
  }
  require(a.where != a.which_fusion, "bisect", a.where ? "--where --which-fusion" : "(no mode)",
          "give exactly one of --where or --which-fusion");
  model::DecoderConfig c;
  c.seed = a.seed;
  c.layers = a.layers;
  c.prefill = a.prefill;
  c.decode_steps = a.steps;
  model::validate(c);
  RunOptions opt;
  opt.fusions = model::parse_fusions(a.fusions, "--fusions");
  opt.fault = model::parse_decoder_fault(a.fault, "--fault");
  if (a.budget_abs != 0) {
    opt.budget.absolute = true;
    opt.budget.value = a.budget_abs;
  } else {
    opt.budget.value = a.budget_scale;
  }
  opt.keep_values = !a.checkpoints.empty();
  const model::DecoderWeights w = model::make_weights(c);
  const ReferenceTrace ref = run_reference(c, w);
  if (a.where) {
    const StackRun run = run_lockstep(ref, w, opt);
    fmt::print("{}", where_report(run, ref));
    if (!a.checkpoints.empty()) {
      write_checkpoints_h5(run, a.checkpoints);
      fmt::print("checkpoints: {} ({} checkpoints)\n", a.checkpoints, run.checkpoints.size());
    }
    if (!a.plot.empty()) {
      const std::string file = a.checkpoints.empty() ? a.plot + "_checkpoints.h5" : a.checkpoints;
      if (a.checkpoints.empty()) write_checkpoints_h5(run, file);  // stats only (values not kept)
      plot(file, a.plot);
      if (a.checkpoints.empty()) std::filesystem::remove(file);
    }
    return run.first_over() ? 1 : 0;
  }
  require(a.checkpoints.empty(), "--checkpoints", a.checkpoints, "is written by --where only");
  require(a.plot.empty(), "--plot", a.plot, "is drawn by --where only");
  const WhichFusionResult r = which_fusion(ref, w, opt.fusions, opt);
  fmt::print("{}", r.report);
  return r.start_over && !r.none_over ? 0 : 1;
}

}  // namespace lockstep::bisect
