#pragma once
/// `--impl python:path/to/worker.py`: an external implementation in a Python worker process.
///
/// lockstep starts the worker once (`LOCKSTEP_PYTHON`, else the first `.venv/bin/python3` found from the
/// worker's directory upwards or in the source tree, else `python3` on PATH), with fixtures/ on PYTHONPATH so
/// that the worker can `import lockstep_worker` (fixtures/lockstep_worker.py: the helper that wraps a numpy
/// function). The two talk over one Unix socket, the worker's fd 3 (LOCKSTEP_WORKER_FD); the worker's
/// stdout and stderr go to a pipe whose last lines lockstep quotes when the worker fails. Framing: a 4-byte
/// ASCII tag, a little-endian uint64 payload length, the payload:
///   worker -> lockstep  HELO  JSON {"protocol": 1, "name": ..., "ops": [{"op": ..., "capabilities":
///                             [{"field": ..., "values": [...], "min": ..., "max": ...}]}]}   (once, at start)
///   lockstep -> worker  CASE  HDF5 file image (fixtures/SCHEMA.md) of kind "case": /case = the case fields,
///                             root attribute `lockstep_outputs` = JSON [{"name", "kind": tensor|int|real,
///                             "dtype", "shape"}] (the outputs wanted, with the reference's dtypes/shapes)
///   worker -> lockstep  OUTS  HDF5 file image of kind "outputs" with the record /outputs/impl
///                       FAIL  UTF-8 text: the implementation raised (the case fails with that message)
/// Closing the socket asks the worker to exit. A worker that dies while running a case, or does not answer
/// within ImplOptions::timeout_s (then it is killed, with its process group), fails that case with the
/// exit status and its last stderr lines; the next case starts a new worker, which must declare the same.
#include <memory>
#include <string>

#include "oracle/impl.h"

namespace lockstep::oracle {

/// Starts the worker `script` and reads its declaration; Error (field --impl) when it does not start,
/// does not declare itself within options.startup_timeout_s, or declares something load() rejects.
std::shared_ptr<const Impl> load_python_worker(const std::string& script, const ImplOptions& options);

}  // namespace lockstep::oracle
