#pragma once
/// Internal to oracle/h5io*.cpp: reading a file in an isolated child process (h5io.h, ReadOptions).
#include <mutex>
#include <string>

#include "oracle/h5io.h"

namespace lockstep::h5 {

/// The process-wide lock every HDF5 call runs under.
std::mutex& hdf5_io_mutex();

/// read_file() without isolation and without taking hdf5_io_mutex() (the caller holds it, or is the
/// single-threaded isolation child).
Dump read_file_unlocked(const std::string& path, const ReadLimits& limits);

/// read_file() with isolation: forks, parses in the child under rlimits, returns the child's Dump or
/// rethrows its Error; a crash, a timeout or a garbled answer becomes an Error naming `path`.
Dump read_file_isolated(const std::string& path, const ReadOptions& options);

/// The wire format between the child and the parent (exposed for the unit test).
std::string encode_dump(const Dump& d);
Dump decode_dump(const std::string& bytes, const std::string& path);

}  // namespace lockstep::h5
