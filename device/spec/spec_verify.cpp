#include "device/spec/spec_verify.h"

#include <vector>

#include "core/error.h"
#include "device/core/launch.h"
#include "device/spec/spec_verify_kernel.h"

namespace lockstep::device {

SpecVerifyResult spec_verify(const SpecVerifyInputs& in, const Options& options) {
  const int64_t bs = in.bs, n = in.num_draft_tokens;
  require(in.path == SpecPath::v1 || in.path == SpecPath::v2, "verify.path", enum_name(in.path),
          "device verify runs the v1 or v2 path");
  require(n >= 1 && n <= kSpecMaxDraftTokens, "verify.num_draft_tokens", n, "must be in [1, 8]");
  require(bs >= 0 && bs <= kSpecMaxRequests, "verify.bs", bs, "must be in [0, 16]");
  const auto sz = static_cast<size_t>(bs);
  require(in.candidates.size() == sz * n && in.target_predict.size() == sz * n && in.output_len.size() == sz &&
              in.max_new_tokens.size() == sz && in.stop_token.size() == sz && in.eos_token.size() == sz &&
              in.flags.size() == sz,
          "verify.inputs", bs, "every per-request array must have bs (x N) entries");
  SpecVerifyResult r;
  spec_result_resize(r, bs, n);
  std::vector<int64_t> flat(sz * n, 0);
  SpecVerifyParams p;
  p.bs = static_cast<int32_t>(bs);
  p.n = static_cast<int32_t>(n);
  p.path = in.path == SpecPath::v1 ? kSpecPathV1 : kSpecPathV2;
  p.fault = options.fault;
  p.candidates = in.candidates.data();
  p.target_predict = in.target_predict.data();
  p.output_len = in.output_len.data();
  p.max_new_tokens = in.max_new_tokens.data();
  p.stop_token = in.stop_token.data();
  p.eos_token = in.eos_token.data();
  p.flags = in.flags.data();
  p.accept_index = r.accept_index.data();
  p.accept_length = r.accept_length.data();
  p.drafts_accepted = r.drafts_accepted.data();
  p.predict = r.predict.data();
  p.flat_tokens = flat.data();
  p.tokens = r.tokens.data();
  p.num_tokens = r.num_tokens.data();
  p.committed_delta = r.committed_delta.data();
  p.verify_delta = r.verify_delta.data();
  p.correct_delta = r.correct_delta.data();
  p.freed_slots = r.freed_slots.data();
  p.allocated_to_committed = r.allocated_to_committed.data();
  p.finish_reason = r.finish_reason.data();
  p.finished_len = r.finished_len.data();
  if (bs > 0) {
    LaunchGrid grid;
    grid.blocks = 1;
    grid.threads = 32;
    launch(p, grid, options);
  }
  if (options.fault == kSpecFaultZeroAcceptLeavesVerify && bs > 0) {
    bool zero = true, survivors = false;
    for (int64_t b = 0; b < bs; ++b) {
      zero = zero && r.drafts_accepted[b] == 0;
      survivors = survivors || (!(in.flags[b] & kSpecSkip) && r.finish_reason[b] == 0);
    }
    r.leaves_verify_input = zero && !survivors;
  }
  return r;
}

}  // namespace lockstep::device
