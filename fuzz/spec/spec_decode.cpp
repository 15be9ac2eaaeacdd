#include "fuzz/spec/spec_decode.h"

#include <algorithm>
#include <vector>

namespace lockstep::fuzz {

using rc::gen::inRange;
using rc::gen::just;
using rc::gen::weightedOneOf;

rc::Gen<SpecCommand> gen_spec_command(int64_t vocab) {
  return rc::gen::exec([vocab] {
    SpecCommand c;
    c.kind = *weightedOneOf<SpecCommandKind>({{4, just(SpecCommandKind::add_request)},
                                              {2, just(SpecCommandKind::prefill)},
                                              {7, just(SpecCommandKind::decode)},
                                              {1, just(SpecCommandKind::merge)},
                                              {1, just(SpecCommandKind::filter)},
                                              {1, just(SpecCommandKind::abort)},
                                              {1, just(SpecCommandKind::retract)}});
    switch (c.kind) {
      case SpecCommandKind::add_request:
        c.a = *weightedOneOf<int64_t>({{3, inRange<int64_t>(1, 9)}, {2, inRange<int64_t>(9, 65)}});
        c.b = *weightedOneOf<int64_t>(
            {{4, inRange<int64_t>(1, 9)}, {3, inRange<int64_t>(9, 41)}, {1, inRange<int64_t>(41, 129)}});
        c.c = *weightedOneOf<int64_t>({{1, just<int64_t>(-1)}, {2, inRange<int64_t>(0, vocab)}});
        c.d = *inRange<int64_t>(0, 1000);
        break;
      case SpecCommandKind::prefill:
        c.a = *weightedOneOf<int64_t>({{3, inRange<int64_t>(1, 5)}, {1, inRange<int64_t>(5, 17)}});
        break;
      case SpecCommandKind::decode:
        c.a = *inRange<int64_t>(0, 4);
        c.b = *weightedOneOf<int64_t>({{4, just<int64_t>(0)}, {2, just<int64_t>(1)}, {1, just<int64_t>(2)},
                                       {2, just<int64_t>(3)}});
        c.c = *inRange<int64_t>(0, 1000);
        break;
      default:
        c.a = *inRange<int64_t>(0, 16);
        c.b = *inRange<int64_t>(0, 16);
        break;
    }
    return c;
  });
}

rc::Gen<SpecDecodeCase> gen_spec_case(std::optional<SpecPath> path) {
  return rc::gen::exec([path] {
    SpecDecodeCase c;
    c.path = path ? *path
                  : *weightedOneOf<SpecPath>({{4, just(SpecPath::v1)}, {4, just(SpecPath::v2)}, {1, just(SpecPath::plain)}});
    c.num_draft_tokens = *weightedOneOf<int64_t>(
        {{1, just<int64_t>(1)}, {6, inRange<int64_t>(2, 6)}, {2, inRange<int64_t>(6, kSpecMaxDraftTokens + 1)}});
    c.vocab_size = *rc::gen::element<int64_t>(4, 8, 16, 64, 4096);
    c.eos_token_id = *weightedOneOf<int64_t>({{1, just<int64_t>(-1)}, {1, inRange<int64_t>(0, c.vocab_size)}});
    c.pool_size = *weightedOneOf<int64_t>({{5, just<int64_t>(4096)}, {2, inRange<int64_t>(16, 512)}});
    // The joined model (issue 15): page sizes, SWA pools smaller than the full one (so full-pool indices run
    // past the SWA cache once evictions reuse SWA slots), windows short enough to evict during decode.
    c.page_size = *weightedOneOf<int64_t>({{3, just<int64_t>(1)}, {1, just<int64_t>(2)}, {2, just<int64_t>(4)},
                                           {2, just<int64_t>(8)}, {1, just<int64_t>(16)}});
    c.swa_pool_size = *weightedOneOf<int64_t>(
        {{2, just<int64_t>(int64_t{c.pool_size})}, {3, inRange<int64_t>(std::max<int64_t>(c.page_size, 16), 161)}});
    c.sliding_window = *weightedOneOf<int64_t>(
        {{2, just<int64_t>(int64_t{1} << 20)}, {3, inRange<int64_t>(1, 9)}, {1, inRange<int64_t>(9, 65)}});
    c.model_seed = *inRange<int64_t>(0, 1 << 20);
    const auto cmds = *rc::gen::container<std::vector<SpecCommand>>(gen_spec_command(c.vocab_size));
    c.commands = spec_commands_tensor(cmds);
    return c;
  });
}

}  // namespace lockstep::fuzz
