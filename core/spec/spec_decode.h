#pragma once
/// Case and output types of `spec_decode`: a speculative-decoding scheduler run (spec:
/// shared/spec/gemma4-kvcache-speculative.md §5; seed 004).
///
/// A case is a *command sequence* applied to a scheduler that starts empty, plus the run's fixed
/// parameters (bookkeeping path, draft length N, toy-model vocabulary and seed, KV pool size):
///
///   commands  i64 (C, 5)   one row per command: kind, a, b, c, d (SpecCommand below)
///
/// Commands never fail: one that does not apply in the current state (decode of an empty batch,
/// merge with one batch, retract of a finished request, ...) is a no-op, so every subsequence of a
/// valid sequence is valid — that is what lets shrinking delete commands freely.
///
/// The verify interface (SpecVerifyInputs / SpecVerifyResult) is shared by the reference verify
/// (reference/spec/verify.h) and the device kernels (device/spec/spec_verify.h).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/fields.h"
#include "core/kernel_enums.h"
#include "core/tensor.h"

namespace lockstep {

// SpecPath, SpecFinishReason, kSpecSkip and kSpecAbort: core/kernel_enums.h (the verify kernel reads them).
template <>
struct EnumNames<SpecPath> {
  static constexpr std::array<const char*, 3> names{"plain", "v1", "v2"};
};

enum class SpecCommandKind : int {
  add_request = 0,  ///< a = prompt length [1, 64], b = max_new_tokens [1, 128], c = stop token (-1 none), d = prompt seed
  prefill = 1,      ///< a = max requests taken from the waiting queue [1, 16]: a new batch
  decode = 2,       ///< a = batch (mod #batches), b = accept pattern (SpecAcceptPattern), c = pattern seed
  merge = 3,        ///< a, b = batches (mod #batches): merge b into a (a != b)
  filter = 4,       ///< a = batch: drop finished requests
  abort = 5,        ///< a = request (mod #requests): abort it
  retract = 6,      ///< a = batch, b = slot in the batch (mod size): retract that request
};
template <>
struct EnumNames<SpecCommandKind> {
  static constexpr std::array<const char*, 7> names{"add_request", "prefill", "decode", "merge",
                                                    "filter",      "abort",   "retract"};
};

/// How many drafts each request of a decode step gets accepted (0 .. N-1).
enum class SpecAcceptPattern : int {
  mixed = 0,     ///< per request, a hash of (seed, request id, step) picks 0 .. N-1
  zero_all = 1,  ///< every draft rejected
  full_all = 2,  ///< every draft accepted
  zero_one = 3,  ///< request (seed mod bs) rejects everything, the others are mixed
};
template <>
struct EnumNames<SpecAcceptPattern> {
  static constexpr std::array<const char*, 4> names{"mixed", "zero_all", "full_all", "zero_one"};
};

constexpr int64_t kSpecCommandWidth = 5;
constexpr int64_t kSpecMaxRequests = 16;  ///< add_request past this is a no-op (batches stay <= 16)
constexpr int64_t kSpecMaxBatches = 4;    ///< prefill past this is a no-op
constexpr int64_t kSpecMaxDraftTokens = 8;
constexpr int64_t kSpecMaxContext = 256;  ///< req_to_token columns: prompt 64 + output 128 (+ N - 1 raw) + 2N
constexpr int64_t kSpecMaxPageSize = 64;
/// The toy target's layer types (5 sliding : 1 full, Gemma-4's default pattern, last layer full) and the
/// draft's own layer list; each draft layer reads the KV of the target layer its owner map names (§2.5 rule).
inline constexpr std::array<LayerType, 6> kSpecTargetLayers{LayerType::sliding_attention, LayerType::sliding_attention,
                                                            LayerType::sliding_attention, LayerType::sliding_attention,
                                                            LayerType::sliding_attention, LayerType::full_attention};
inline constexpr std::array<LayerType, 2> kSpecDraftLayers{LayerType::sliding_attention, LayerType::full_attention};

struct SpecCommand {
  SpecCommandKind kind = SpecCommandKind::prefill;
  int64_t a = 0, b = 0, c = 0, d = 0;
  std::string describe() const;
};

struct SpecDecodeCase {
  SpecPath path = SpecPath::v2;
  int64_t num_draft_tokens = 4;  ///< N = spec_steps + 1 (topk = 1 chain); 1 .. 8
  int64_t vocab_size = 16;       ///< toy model vocabulary; small so stop tokens occur
  int64_t eos_token_id = -1;     ///< -1 = none
  int64_t pool_size = 4096;      ///< full KV pool tokens per layer
  int64_t swa_pool_size = 4096;  ///< SWA KV pool tokens per layer
  int64_t page_size = 1;         ///< tokens per page (both pools)
  int64_t sliding_window = int64_t{1} << 20;  ///< W keys of the sliding layers (>= every sequence: no eviction)
  int64_t model_seed = 0;        ///< toy target/draft seed
  Tensor commands;               ///< i64 (C, 5)

  template <class V>
  void fields(V& v) {
    v("path", path);
    v("num_draft_tokens", num_draft_tokens, IntRange{1, kSpecMaxDraftTokens});
    v("vocab_size", vocab_size, IntRange{2, int64_t{1} << 30});
    v("eos_token_id", eos_token_id, IntRange{-1, int64_t{1} << 30});
    v("pool_size", pool_size, IntRange{1, int64_t{1} << 30});
    v("swa_pool_size", swa_pool_size, IntRange{1, int64_t{1} << 30});
    v("page_size", page_size, IntRange{1, kSpecMaxPageSize});
    v("sliding_window", sliding_window, IntRange{1, int64_t{1} << 30});
    v("model_seed", model_seed, IntRange{INT64_MIN, INT64_MAX});
    v("commands", commands);
  }

  int64_t num_commands() const { return commands.rank() == 2 ? commands.dim(0) : 0; }
  SpecCommand command(int64_t i) const;
};

/// Builds the (C, 5) command tensor.
Tensor spec_commands_tensor(const std::vector<SpecCommand>& cmds);

/// Final scheduler state, requests in creation order (R requests).
struct SpecDecodeOutputs {
  Tensor output_ids;        ///< i64 (sum O) raw output_ids of every request, concatenated
  Tensor output_offsets;    ///< i64 (R + 1)
  Tensor finish_reason;     ///< i64 (R) SpecFinishReason
  Tensor finished_len;      ///< i64 (R) -1 = unset
  Tensor kv_committed_len;  ///< i64 (R)
  Tensor kv_allocated_len;  ///< i64 (R)
  Tensor spec_verify_ct;    ///< i64 (R)
  Tensor spec_num_correct_drafts;  ///< i64 (R)
  Tensor accept_trace;      ///< i64 (verifies) accepted drafts c of every (step, request) verified, in order
  int64_t pool_available = 0;      ///< full pool
  int64_t swa_pool_available = 0;

  template <class V>
  void fields(V& v) {
    v("output_ids", output_ids);
    v("output_offsets", output_offsets);
    v("finish_reason", finish_reason);
    v("finished_len", finished_len);
    v("kv_committed_len", kv_committed_len);
    v("kv_allocated_len", kv_allocated_len);
    v("spec_verify_ct", spec_verify_ct);
    v("spec_num_correct_drafts", spec_num_correct_drafts);
    v("accept_trace", accept_trace);
    v("pool_available", pool_available, IntRange{0, INT64_MAX});
    v("swa_pool_available", swa_pool_available, IntRange{0, INT64_MAX});
  }
};

/// Throws Error naming the field (`case.commands[3][1]`) when the case is not a valid input.
void validate(const SpecDecodeCase& c);

// ---- the verify interface (one decode step of one batch) -------------------------------------

template <>
struct EnumNames<SpecFinishReason> {
  static constexpr std::array<const char*, 4> names{"none", "length", "matched_token", "abort"};
};

/// What the target forward produced and the scheduler knows, for a batch of bs requests.
struct SpecVerifyInputs {
  SpecPath path = SpecPath::v2;
  int64_t bs = 0, num_draft_tokens = 1;
  std::vector<int64_t> candidates;      ///< (bs * N) row b: root (last verified token), drafts d_1..d_{N-1}
  std::vector<int64_t> target_predict;  ///< (bs * N) argmax of the target at each candidate position
  std::vector<int64_t> output_len;      ///< (bs) len(output_ids) before the step
  std::vector<int64_t> max_new_tokens;  ///< (bs)
  std::vector<int64_t> stop_token;      ///< (bs) -1 = none
  std::vector<int64_t> eos_token;       ///< (bs) -1 = none
  std::vector<int32_t> flags;           ///< (bs) kSpecSkip | kSpecAbort
};

/// Greedy verify plus the path's per-request bookkeeping, as effects the scheduler applies.
struct SpecVerifyResult {
  std::vector<int32_t> accept_index;   ///< (bs, N) flat positions b*N+j of accepted rows, -1 after (v1: truncated at finish)
  std::vector<int32_t> accept_length;  ///< (bs) v1: accepted drafts (truncated at finish); v2: accept_lens = drafts + 1
  std::vector<int32_t> drafts_accepted;  ///< (bs) c, untruncated
  std::vector<int64_t> predict;        ///< (bs * N) predict buffer (0 where not written)
  // per-request effects
  std::vector<int64_t> tokens;         ///< (bs, 2N) tokens appended to output_ids; first num_tokens[b] valid
  std::vector<int32_t> num_tokens;     ///< (bs)
  std::vector<int32_t> committed_delta;  ///< (bs) kv_committed_len +=
  std::vector<int32_t> verify_delta;     ///< (bs) spec_verify_ct +=
  std::vector<int32_t> correct_delta;    ///< (bs) spec_num_correct_drafts +=
  std::vector<int32_t> freed_slots;    ///< (bs) verify slots returned to the pool (v1 evict_mask: N - accept_length - 1)
  std::vector<int32_t> allocated_to_committed;  ///< (bs) 1: kv_allocated_len = kv_committed_len afterwards (v1)
  std::vector<int32_t> finish_reason;  ///< (bs) SpecFinishReason set by this step (none = unchanged)
  std::vector<int64_t> finished_len;   ///< (bs) -1 = unset
  bool leaves_verify_input = false;    ///< spec_info stays the verify input after the step (a bug)

  /// Every field, in the order a lockstep diff reports the first difference (first_state_difference).
  template <class V>
  void fields(V& v) {
    v("accept_index", accept_index);
    v("accept_length", accept_length);
    v("drafts_accepted", drafts_accepted);
    v("predict", predict);
    v("num_tokens", num_tokens);
    v("tokens", tokens);
    v("committed_delta", committed_delta);
    v("verify_delta", verify_delta);
    v("correct_delta", correct_delta);
    v("freed_slots", freed_slots);
    v("allocated_to_committed", allocated_to_committed);
    v("finish_reason", finish_reason);
    v("finished_len", finished_len);
    v("leaves_verify_input", leaves_verify_input, DiffLabel{"spec_info after verify"});
  }
};

/// Allocates every vector of `r` at its size for (bs, N), zero / -1 filled as documented.
void spec_result_resize(SpecVerifyResult& r, int64_t bs, int64_t n);

}  // namespace lockstep
