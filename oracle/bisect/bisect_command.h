#pragma once
/// `lockstep bisect` (oracle/cli/main.cpp parses the options into BisectArgs).
#include <cstdint>
#include <string>

namespace lockstep::bisect {

struct BisectArgs {
  bool where = false;
  bool which_fusion = false;
  int64_t seed = 1;
  int64_t layers = 6;
  int64_t prefill = 16;
  int64_t steps = 64;
  std::string fusions = "all";
  std::string fault = "none";
  double budget_abs = 0;     ///< > 0: absolute budget
  double budget_scale = 1;   ///< multiplier of the default relative budget
  std::string checkpoints;   ///< write every checkpoint to this HDF5 file (--where)
  std::string trace;         ///< bisect this external activation trace instead of the device stack
  std::string plot;          ///< --where: PNG pictures PREFIX_heatmap.png, PREFIX_growth.png (fixtures/bisect_plot.py)
};

/// Exit status: 0 within budget (where) / a responsible fusion set found (which-fusion), 1 drift found (where) /
/// no fusion responsible (which-fusion). Throws Error for bad arguments.
int run_bisect_command(const BisectArgs& a);

}  // namespace lockstep::bisect
