#pragma once
/// Named fault injections: each one a real bug class from the seed reports, a test-only variant of a
/// device op selected at run time by name. Never on by default.
#include <string>
#include <string_view>
#include <vector>

#include "device/core/fault.h"

namespace lockstep::device {

struct FaultInfo {
  const char* name;
  const char* op;
  int id;  ///< the op's own fault id passed to its kernels
  const char* description;
};

/// Every fault of every registered op, in registry order. Built from the registry's rows (oracle/registry.cpp
/// defines these two functions: the registry is the one place that knows every op).
const std::vector<FaultInfo>& all_faults();

/// The op's fault id for `name` ("" or "none" = 0); throws Error naming `--fault` when the fault does
/// not exist or belongs to another op.
int fault_id(std::string_view op, std::string_view name);

}  // namespace lockstep::device
