#include "core/spec/spec_decode.h"

namespace lockstep {

std::string SpecCommand::describe() const {
  switch (kind) {
    case SpecCommandKind::add_request:
      return fmt::format("add_request(prompt_len={}, max_new_tokens={}, stop={}, prompt_seed={})", a, b, c, d);
    case SpecCommandKind::prefill: return fmt::format("prefill(max_reqs={})", a);
    case SpecCommandKind::decode:
      return fmt::format("decode(batch={}, pattern={}, seed={})", a,
                         enum_name(static_cast<SpecAcceptPattern>(b)), c);
    case SpecCommandKind::merge: return fmt::format("merge(into={}, from={})", a, b);
    case SpecCommandKind::filter: return fmt::format("filter(batch={})", a);
    case SpecCommandKind::abort: return fmt::format("abort(req={})", a);
    case SpecCommandKind::retract: return fmt::format("retract(batch={}, slot={})", a, b);
  }
  return "?";
}

SpecCommand SpecDecodeCase::command(int64_t i) const {
  const int64_t* row = commands.data<int64_t>() + i * kSpecCommandWidth;
  return {static_cast<SpecCommandKind>(row[0]), row[1], row[2], row[3], row[4]};
}

Tensor spec_commands_tensor(const std::vector<SpecCommand>& cmds) {
  std::vector<int64_t> v;
  v.reserve(cmds.size() * kSpecCommandWidth);
  for (const SpecCommand& c : cmds) {
    v.push_back(static_cast<int64_t>(c.kind));
    v.insert(v.end(), {c.a, c.b, c.c, c.d});
  }
  return Tensor::from<int64_t>({static_cast<int64_t>(cmds.size()), kSpecCommandWidth}, v);
}

void validate(const SpecDecodeCase& c) {
  require(c.num_draft_tokens >= 1 && c.num_draft_tokens <= kSpecMaxDraftTokens, "case.num_draft_tokens",
          c.num_draft_tokens, fmt::format("must be in [1, {}]", kSpecMaxDraftTokens));
  require(c.vocab_size >= 2 && c.vocab_size <= (int64_t{1} << 30), "case.vocab_size", c.vocab_size,
          "must be in [2, 2^30]");
  require(c.eos_token_id >= -1 && c.eos_token_id < c.vocab_size, "case.eos_token_id", c.eos_token_id,
          "must be -1 (none) or a token id below vocab_size");
  require(c.pool_size >= 1 && c.pool_size <= (int64_t{1} << 30), "case.pool_size", c.pool_size,
          "must be in [1, 2^30]");
  require(c.swa_pool_size >= 1 && c.swa_pool_size <= (int64_t{1} << 30), "case.swa_pool_size", c.swa_pool_size,
          "must be in [1, 2^30]");
  require(c.page_size >= 1 && c.page_size <= kSpecMaxPageSize, "case.page_size", c.page_size,
          fmt::format("must be in [1, {}]", kSpecMaxPageSize));
  require(c.sliding_window >= 1 && c.sliding_window <= (int64_t{1} << 30), "case.sliding_window", c.sliding_window,
          "must be in [1, 2^30]");
  require(c.commands.dtype() == DType::i64, "case.commands", c.commands.describe(), "dtype must be i64");
  require(c.commands.rank() == 2 && c.commands.dim(1) == kSpecCommandWidth, "case.commands", c.commands.describe(),
          fmt::format("shape must be (C, {})", kSpecCommandWidth));
  require(c.num_commands() <= 100000, "case.commands", c.commands.describe(), "at most 100000 commands");
  for (int64_t i = 0; i < c.num_commands(); ++i) {
    const SpecCommand cmd = c.command(i);
    const std::string f = fmt::format("case.commands[{}]", i);
    const auto k = static_cast<int64_t>(cmd.kind);
    require(k >= 0 && k < static_cast<int64_t>(EnumNames<SpecCommandKind>::names.size()), f + "[0]", k,
            "unknown command kind (0 add_request .. 6 retract)");
    auto nonneg = [&](int64_t v, int col) { require(v >= 0, fmt::format("{}[{}]", f, col), v, "must be >= 0"); };
    switch (cmd.kind) {
      case SpecCommandKind::add_request:
        require(cmd.a >= 1 && cmd.a <= 64, f + "[1]", cmd.a, "prompt length must be in [1, 64]");
        require(cmd.b >= 1 && cmd.b <= 128, f + "[2]", cmd.b, "max_new_tokens must be in [1, 128]");
        require(cmd.c >= -1 && cmd.c < c.vocab_size, f + "[3]", cmd.c, "stop token must be -1 or below vocab_size");
        break;
      case SpecCommandKind::prefill:
        require(cmd.a >= 1 && cmd.a <= kSpecMaxRequests, f + "[1]", cmd.a, "must be in [1, 16]");
        break;
      case SpecCommandKind::decode:
        nonneg(cmd.a, 1);
        require(cmd.b >= 0 && cmd.b < static_cast<int64_t>(EnumNames<SpecAcceptPattern>::names.size()), f + "[2]",
                cmd.b, "accept pattern must be in [0, 3]");
        nonneg(cmd.c, 3);
        break;
      default:
        nonneg(cmd.a, 1);
        nonneg(cmd.b, 2);
        break;
    }
  }
}

void spec_result_resize(SpecVerifyResult& r, int64_t bs, int64_t n) {
  const auto b = static_cast<size_t>(bs);
  r.accept_index.assign(b * n, -1);
  r.accept_length.assign(b, 0);
  r.drafts_accepted.assign(b, 0);
  r.predict.assign(b * n, 0);
  r.tokens.assign(b * 2 * n, 0);
  r.num_tokens.assign(b, 0);
  r.committed_delta.assign(b, 0);
  r.verify_delta.assign(b, 0);
  r.correct_delta.assign(b, 0);
  r.freed_slots.assign(b, 0);
  r.allocated_to_committed.assign(b, 0);
  r.finish_reason.assign(b, 0);
  r.finished_len.assign(b, -1);
  r.leaves_verify_input = false;
}

}  // namespace lockstep
