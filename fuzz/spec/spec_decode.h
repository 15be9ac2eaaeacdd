#pragma once
/// Generators of spec_decode cases: command sequences for the speculative scheduler model.
///
/// Commands are drawn independently of the state they will meet (a command that does not apply is a
/// no-op, core/spec/spec_decode.h), so the sequence is a plain rapidcheck container: shrinking
/// deletes commands and simplifies their arguments, down to the shortest failing sequence. Reached:
/// N = 1..8, batches of 1..16 requests (prefill takes up to 16, merges join batches), small
/// vocabularies so stop / eos tokens land inside multi-token steps, max_new_tokens of 1..128 so it
/// is crossed mid-step, every accept pattern (mixed, zero for all, full, zero for one request),
/// merge / filter / abort / retract interleaved with decode, and small KV pools (skipped steps); page
/// sizes 1..16, SWA pools smaller than the full pool and sliding windows of 1..64 keys (SWA eviction
/// during decode, full-pool indices past the SWA cache) or none.
#include <optional>

#include <rapidcheck.h>

#include "core/spec/spec_decode.h"

namespace lockstep::fuzz {

rc::Gen<SpecCommand> gen_spec_command(int64_t vocab_size);

/// Cases of one path, or (nullopt) of v1 / v2 / plain.
rc::Gen<SpecDecodeCase> gen_spec_case(std::optional<SpecPath> path = std::nullopt);

}  // namespace lockstep::fuzz
