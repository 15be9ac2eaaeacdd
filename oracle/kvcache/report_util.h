#pragma once
/// Report helpers shared by the kvcache registry entries.
#include <string>
#include <utility>
#include <vector>

#include "oracle/op.h"

namespace lockstep::oracle {

/// Compares (name, reference, device) triples exactly and records a failure per differing output.
inline void compare_exact(Report& rep, const std::vector<std::pair<const char*, std::pair<const Tensor*, const Tensor*>>>& outs) {
  for (const auto& [name, t] : outs) compare_output(rep, name, *t.first, *t.second, Tolerance{});
}

}  // namespace lockstep::oracle
