#include "core/kvcache/kv_trace.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lockstep {

void validate(const KvTraceCase& c) {
  require(c.page_size >= 1 && c.page_size <= 4096, "case.page_size", c.page_size, "must be in [1, 4096]");
  require(c.full_size >= 0 && c.full_size <= (int64_t{1} << 24), "case.full_size", c.full_size, "must be in [0, 2^24]");
  require(c.swa_size >= 0 && c.swa_size <= (int64_t{1} << 24), "case.swa_size", c.swa_size, "must be in [0, 2^24]");
  require(c.window >= 1, "case.window", c.window, "must be >= 1 key");
  require(c.req_slots >= 1 && c.req_slots <= 4096, "case.req_slots", c.req_slots, "must be in [1, 4096]");
  require(c.max_context >= 1 && c.max_context <= (int64_t{1} << 20), "case.max_context", c.max_context,
          "must be in [1, 2^20]");
  // Checked for every tensor, empty ones included: (N, 0) must not pass with num_commands() == N, and a
  // case without commands (an empty /case) is not a trace.
  require(c.commands.rank() == 2 && c.commands.dim(1) == 3, "case.commands", shape_str(c.commands.shape()),
          "must have shape (N, 3) (a required field)");
  require(c.commands.dtype() == DType::i32, "case.commands", dtype_name(c.commands.dtype()), "must be i32");
  for (int64_t i = 0; i < c.num_commands(); ++i) {
    const int64_t kind = c.commands.get_int(i * 3), target = c.commands.get_int(i * 3 + 1),
                  amount = c.commands.get_int(i * 3 + 2);
    require(kind >= 0 && kind <= 5, fmt::format("case.commands[{}][0]", i), kind, "unknown command kind (0..5)");
    require(target >= 0, fmt::format("case.commands[{}][1]", i), target, "target must be >= 0");
    require(amount >= 0, fmt::format("case.commands[{}][2]", i), amount, "amount must be >= 0");
  }
}

}  // namespace lockstep
