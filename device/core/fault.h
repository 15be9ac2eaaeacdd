#pragma once
/// One named fault of one op: a test-only variant of its kernel (or composition), selected at run time by
/// id, never on by default. Each op lists its faults next to its kernel (device/<family>/<op>_kernel.h) as
/// `inline constexpr Fault kOpFaults[] = {...}`; the op's registry row names the list
/// (oracle/registry.cpp). Plain struct: included by kernel headers.

namespace lockstep::device {

struct Fault {
  const char* name;
  int id;  ///< the op's own fault id passed to its kernels
  const char* description;
};

}  // namespace lockstep::device
