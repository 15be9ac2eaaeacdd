// Unit tests of the speculative scheduler model: golden vectors of greedy verify and of both
// bookkeeping paths (reference and device kernel), update_finish_state order, allocation and release,
// greedy equivalence of whole runs, and the zero-accept merge being reported instead of crashing.
#include <gtest/gtest.h>

#include "core/error.h"
#include "device/spec/spec_verify.h"
#include "device/spec/spec_verify_kernel.h"
#include "oracle/spec/spec_decode.h"
#include "reference/spec/scheduler.h"
#include "reference/spec/verify.h"

using namespace lockstep;
using namespace lockstep::reference::spec;

namespace {

using K = SpecCommandKind;

SpecDecodeCase make_case(SpecPath path, int64_t n, const std::vector<SpecCommand>& cmds, int64_t vocab = 4096,
                         int64_t eos = -1) {
  SpecDecodeCase c;
  c.path = path;
  c.num_draft_tokens = n;
  c.vocab_size = vocab;
  c.eos_token_id = eos;
  c.model_seed = 3;
  c.commands = spec_commands_tensor(cmds);
  return c;
}

/// Two requests, bs = 2, N = 4: request 0 accepts 2 drafts, request 1 none.
SpecVerifyInputs two_requests(SpecPath path) {
  SpecVerifyInputs in;
  in.path = path;
  in.bs = 2;
  in.num_draft_tokens = 4;
  //               root  d1  d2  d3
  in.candidates = {7, 11, 12, 99, /**/ 5, 40, 41, 42};
  // target argmax at each row: row0 predicts 11 after the root, 12 after d1, 13 after d2 (d3 = 99 rejected)
  in.target_predict = {11, 12, 13, 14, /**/ 30, 31, 32, 33};
  in.output_len = {3, 1};
  in.max_new_tokens = {100, 100};
  in.stop_token = {-1, -1};
  in.eos_token = {-1, -1};
  in.flags = {0, 0};
  return in;
}

void expect_same(const SpecVerifyResult& a, const SpecVerifyResult& b) {
  EXPECT_EQ(first_state_difference(a, b), "");  // every field of SpecVerifyResult::fields
}

}  // namespace

TEST(SpecVerify, GreedyChainAcceptIndexPredictAndBonus) {
  const SpecVerifyResult r = spec_verify(two_requests(SpecPath::v2));
  EXPECT_EQ(r.accept_index, (std::vector<int32_t>{0, 1, 2, -1, 4, -1, -1, -1}));
  EXPECT_EQ(r.drafts_accepted, (std::vector<int32_t>{2, 0}));
  // predict[b*N + j] = target_predict[b, j] for j = 0..c (accepted + bonus), 0 elsewhere
  EXPECT_EQ(r.predict, (std::vector<int64_t>{11, 12, 13, 0, 30, 0, 0, 0}));
}

TEST(SpecVerify, V2AcceptLensIncludeTheBonusAndCountCorrectDrafts) {
  const SpecVerifyResult r = spec_verify(two_requests(SpecPath::v2));
  EXPECT_EQ(r.accept_length, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(r.num_tokens, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(r.committed_delta, (std::vector<int32_t>{3, 1}));  // += len(tokens)
  EXPECT_EQ(r.verify_delta, (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(r.correct_delta, (std::vector<int32_t>{2, 0}));  // accept_lens - 1
  EXPECT_EQ(r.tokens[0], 11);
  EXPECT_EQ(r.tokens[2], 13);
  EXPECT_EQ(r.tokens[8], 30);  // row stride 2N
  EXPECT_EQ(r.allocated_to_committed, (std::vector<int32_t>{0, 0}));
}

TEST(SpecVerify, V1AcceptLengthIsDraftsOnlyAndTruncatesAtAStopToken) {
  SpecVerifyInputs in = two_requests(SpecPath::v1);
  in.stop_token[0] = 12;  // the second emitted token of request 0 stops it
  const SpecVerifyResult r = spec_verify(in);
  EXPECT_EQ(r.accept_length, (std::vector<int32_t>{1, 0}));       // truncated: (row != -1).sum() - 1
  EXPECT_EQ(r.accept_index, (std::vector<int32_t>{0, 1, -1, -1, 4, -1, -1, -1}));
  EXPECT_EQ(r.num_tokens, (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(r.committed_delta, (std::vector<int32_t>{2, 1}));     // accept_length + 1
  EXPECT_EQ(r.verify_delta, (std::vector<int32_t>{1, 1}));        // every request
  EXPECT_EQ(r.correct_delta, (std::vector<int32_t>{0, 0}));       // v1 does not count correct drafts
  EXPECT_EQ(r.finish_reason[0], static_cast<int32_t>(SpecFinishReason::matched_token));
  EXPECT_EQ(r.finished_len[0], 3 + 2);
  EXPECT_EQ(r.freed_slots, (std::vector<int32_t>{2, 3}));  // N - accept_length - 1
  EXPECT_EQ(r.allocated_to_committed, (std::vector<int32_t>{1, 1}));
}

TEST(SpecVerify, V2ExtendsRawOutputPastTheStopToken) {
  SpecVerifyInputs in = two_requests(SpecPath::v2);
  in.stop_token[0] = 11;
  const SpecVerifyResult r = spec_verify(in);
  EXPECT_EQ(r.num_tokens[0], 3);  // all tokens appended, output_ids is raw
  EXPECT_EQ(r.finished_len[0], 3 + 1);
  EXPECT_EQ(r.correct_delta[0], 2);  // not truncated
}

TEST(SpecVerify, LengthIsCheckedBeforeStopTokens) {
  // Output grows from 3 to 6 tokens, max_new_tokens 5, stop token at position 3 (before the boundary).
  const std::vector<int64_t> toks{11, 12, 13};
  const FinishState f = update_finish_state(6, toks, 5, 11, -1, false);
  EXPECT_EQ(f.reason, SpecFinishReason::length);
  EXPECT_EQ(f.finished_len, 5);
  const FinishState g = update_finish_state(5, std::span(toks).first(2), 6, 12, -1, false);
  EXPECT_EQ(g.reason, SpecFinishReason::matched_token);
  EXPECT_EQ(g.finished_len, 5);
  EXPECT_EQ(update_finish_state(1, std::span(toks).first(1), 1, 11, -1, true).reason, SpecFinishReason::abort);
}

TEST(SpecVerify, DeviceKernelMatchesTheGoldenVectors) {
  for (SpecPath path : {SpecPath::v1, SpecPath::v2}) {
    for (int64_t stop : {-1, 11, 12, 13, 30}) {
      SpecVerifyInputs in = two_requests(path);
      in.stop_token = {stop, stop};
      in.max_new_tokens = {5, 2};
      expect_same(spec_verify(in), device::spec_verify(in));
    }
  }
}

TEST(SpecVerify, DeviceFaultsChangeTheResult) {
  const SpecVerifyInputs in = two_requests(SpecPath::v2);
  const auto ref = spec_verify(in);
  const auto bonus = device::spec_verify(in, {Backend::cpu, device::kSpecFaultBonusNotCounted});
  EXPECT_EQ(bonus.accept_length, (std::vector<int32_t>{2, 0}));
  const auto flat = device::spec_verify(in, {Backend::cpu, device::kSpecFaultFlatAcceptTokens});
  // Flat buffer [11, 12, 13, 30]: request 1 reads flat[4] (stride N), past total_accepted.
  EXPECT_EQ(flat.tokens[8], 0);
  EXPECT_NE(flat.tokens[8], ref.tokens[8]);
  const auto twice = device::spec_verify(in, {Backend::cpu, device::kSpecFaultV1VerifyUnderV2});
  EXPECT_EQ(twice.verify_delta, (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(twice.num_tokens, (std::vector<int32_t>{6, 2}));
}

TEST(SpecScheduler, PrefillThenV2DecodeAllocatesAndCommits) {
  // One request, prompt 5, N = 3, full acceptance.
  const auto c = make_case(SpecPath::v2, 3,
                           {{K::add_request, 5, 50, -1, 1}, {K::prefill, 1}, {K::decode, 0, 2, 0}, {K::decode, 0, 2, 0}});
  SpecScheduler s(c, [](const SpecVerifyInputs& in) { return spec_verify(in); });
  s.apply(c.command(0), 0);
  s.apply(c.command(1), 1);
  EXPECT_EQ(s.reqs()[0].kv_committed_len, 5);
  EXPECT_EQ(s.reqs()[0].kv_allocated_len, 5);
  EXPECT_EQ(s.reqs()[0].output_ids.size(), 1u);
  EXPECT_TRUE(s.apply(c.command(2), 2).empty());
  // prepare_for_decode: allocated = committed + 2N = 5 + 6; results: committed += 3 (2 drafts + bonus)
  EXPECT_EQ(s.reqs()[0].kv_allocated_len, 11);
  EXPECT_EQ(s.reqs()[0].kv_committed_len, 8);
  EXPECT_EQ(s.reqs()[0].output_ids.size(), 4u);
  EXPECT_EQ(s.reqs()[0].spec_num_correct_drafts, 2);
  EXPECT_EQ(s.batches()[0].seq_lens[0], 8);
  EXPECT_TRUE(s.check_invariants(2, "").empty());
  s.apply(c.command(3), 3);
  EXPECT_EQ(s.reqs()[0].kv_allocated_len, 8 + 6);  // x = committed + 2A - allocated = 3
  EXPECT_EQ(s.pool_counters().available, c.pool_size - 14);
  EXPECT_TRUE(s.check_invariants(3, "").empty());
}

TEST(SpecScheduler, FinishedRequestsReleaseAllTheirKv) {
  for (SpecPath path : {SpecPath::plain, SpecPath::v1, SpecPath::v2}) {
    std::vector<SpecCommand> cmds{{K::add_request, 4, 7, -1, 1}, {K::add_request, 9, 3, -1, 2}, {K::prefill, 2}};
    for (int i = 0; i < 10; ++i) cmds.push_back({K::decode, 0, 0, i});
    const auto c = make_case(path, 4, cmds);
    SpecScheduler s(c, [](const SpecVerifyInputs& in) { return spec_verify(in); });
    for (int64_t i = 0; i < c.num_commands(); ++i) {
      EXPECT_TRUE(s.apply(c.command(i), i).empty());
      EXPECT_TRUE(s.check_invariants(i, "").empty()) << s.check_invariants(i, "")[0];
    }
    for (const Req& r : s.reqs()) {
      EXPECT_EQ(r.finished_reason, SpecFinishReason::length) << enum_name(path);
      EXPECT_TRUE(r.kv_committed_freed && r.kv_overallocated_freed);
    }
    EXPECT_EQ(s.pool_counters().available, c.pool_size) << enum_name(path);
  }
}

TEST(SpecScheduler, SpeculativeRunsEmitThePlainGreedyOutput) {
  // Small vocabulary so stop tokens fire; every accept pattern; v1 and v2 against plain decoding.
  for (int64_t n : {1, 2, 5, 8}) {
    for (int64_t pattern = 0; pattern < 4; ++pattern) {
      std::vector<SpecCommand> cmds;
      for (int i = 0; i < 6; ++i) cmds.push_back({K::add_request, 1 + i, 5 + 7 * i, i % 2 ? 3 : -1, i});
      cmds.push_back({K::prefill, 16});
      for (int i = 0; i < 60; ++i) cmds.push_back({K::decode, 0, pattern, i});
      std::vector<std::vector<int64_t>> visible[3];
      for (SpecPath path : {SpecPath::plain, SpecPath::v1, SpecPath::v2}) {
        const auto c = make_case(path, n, cmds, 16);
        SpecScheduler s(c, [](const SpecVerifyInputs& in) { return spec_verify(in); });
        for (int64_t i = 0; i < c.num_commands(); ++i) {
          s.apply(c.command(i), i);
          const auto v = s.check_invariants(i, "");
          ASSERT_TRUE(v.empty()) << v[0];
        }
        for (const Req& r : s.reqs()) {
          EXPECT_TRUE(r.finished());
          visible[static_cast<int>(path)].push_back(r.visible_output());
        }
        if (path == SpecPath::v2 && s.stats().length_over_stop > 0) visible[2].clear();  // documented edge
      }
      EXPECT_EQ(visible[0], visible[1]) << "N " << n << " pattern " << pattern;
      if (!visible[2].empty()) {
        EXPECT_EQ(visible[0], visible[2]) << "N " << n << " pattern " << pattern;
      }
    }
  }
}

TEST(SpecScheduler, V2LengthMasksAStopTokenInsideTheFinalStep) {
  // Find a prompt whose greedy stream has its first stop token at index 1, then finish at max_new 3
  // with one full-accept step of 4 tokens: v2 finishes with LENGTH (stop not honoured), v1 with the stop.
  const ToyTarget t{3, 16};
  for (int64_t seed = 0; seed < 200; ++seed) {
    const auto prompt = toy_prompt(3, 16, 2, seed);
    const auto g = t.greedy(prompt, 3);
    if (g[0] == g[1] || g[2] == g[1]) continue;
    const std::vector<SpecCommand> cmds{{K::add_request, 2, 3, g[1], seed}, {K::prefill, 1}, {K::decode, 0, 2, 0}};
    SpecScheduler v2(make_case(SpecPath::v2, 4, cmds, 16), [](const auto& in) { return spec_verify(in); });
    SpecScheduler v1(make_case(SpecPath::v1, 4, cmds, 16), [](const auto& in) { return spec_verify(in); });
    for (int64_t i = 0; i < 3; ++i) {
      v2.apply(cmds[i], i);
      v1.apply(cmds[i], i);
      EXPECT_TRUE(v2.check_invariants(i, "").empty());
    }
    EXPECT_EQ(v2.reqs()[0].finished_reason, SpecFinishReason::length);
    EXPECT_EQ(v2.reqs()[0].visible_output().size(), 3u);
    EXPECT_EQ(v2.stats().length_over_stop, 1);
    EXPECT_EQ(v1.reqs()[0].finished_reason, SpecFinishReason::matched_token);
    EXPECT_EQ(v1.reqs()[0].visible_output().size(), 2u);
    return;
  }
  FAIL() << "no prompt found";
}

TEST(SpecScheduler, ZeroAcceptVerifyInputMergeIsReportedNotACrash) {
  // Two requests in two batches; batch 0's only request finishes on a zero-accept step (max_new 2:
  // prefill token + bonus). With the fault the verify input stays; the next merge is reported.
  const std::vector<SpecCommand> cmds{{K::add_request, 3, 2, -1, 1}, {K::prefill, 1}, {K::add_request, 3, 50, -1, 2},
                                      {K::prefill, 1},               {K::decode, 0, 1, 0}, {K::merge, 1, 0}};
  const auto c = make_case(SpecPath::v1, 3, cmds);
  oracle::SpecLockstep ls(c, {Backend::cpu, "zero_accept_leaves_verify_input"});
  std::vector<std::string> all;
  for (int64_t i = 0; i < c.num_commands(); ++i)
    for (const auto& s : ls.step(c.command(i), i)) all.push_back(s);
  bool merge_reported = false, between_steps = false;
  for (const auto& s : all) {
    merge_reported |= s.find("device: step 5 merge") != std::string::npos && s.find("merge_batch") != std::string::npos;
    between_steps |= s.find("spec_info: verify_input between steps") != std::string::npos;
  }
  EXPECT_TRUE(merge_reported);
  EXPECT_TRUE(between_steps);
  EXPECT_EQ(ls.reference().batches().size(), 1u);  // the reference merged
  EXPECT_EQ(ls.device().batches().size(), 2u);     // the device's merge was skipped
}

TEST(SpecScheduler, RetractedRequestsArePrefilledAgainAndStayGreedy) {
  const std::vector<SpecCommand> cmds{{K::add_request, 4, 40, -1, 1}, {K::prefill, 1}, {K::decode, 0, 0, 1},
                                      {K::retract, 0, 0},             {K::prefill, 1}, {K::decode, 0, 2, 2},
                                      {K::abort, 0}, {K::decode, 0, 2, 3}};
  for (SpecPath path : {SpecPath::v1, SpecPath::v2}) {
    const auto c = make_case(path, 4, cmds);
    oracle::SpecLockstep ls(c, {});
    for (int64_t i = 0; i < c.num_commands(); ++i) {
      const auto v = ls.step(c.command(i), i);
      EXPECT_TRUE(v.empty()) << v[0];
    }
    const Req& r = ls.reference().reqs()[0];
    EXPECT_EQ(r.finished_reason, SpecFinishReason::abort);
    EXPECT_EQ(ls.reference().pool_counters().available, c.pool_size);
  }
}

TEST(SpecDecodeCase, ValidationNamesTheField) {
  auto c = make_case(SpecPath::v2, 9, {});
  EXPECT_THROW(validate(c), Error);
  c = make_case(SpecPath::v2, 4, {{K::add_request, 0, 5, -1, 0}});
  try {
    validate(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "case.commands[0][1]");
  }
  c = make_case(SpecPath::v2, 4, {{K::add_request, 3, 5, 4096, 0}});
  EXPECT_THROW(validate(c), Error);
}

TEST(SpecLockstepDiff, FirstStateDifferenceNamesTheFieldAndBothValues) {
  // The lockstep diff (oracle/spec/spec_decode.cpp) derives from the fields() lists; its wording is
  // what the committed dumps' reports and the failure lines carry.
  SpecVerifyResult a;
  spec_result_resize(a, 2, 3);
  SpecVerifyResult b = a;
  EXPECT_EQ(first_state_difference(a, b), "");
  b.num_tokens[1] = 2;
  b.finished_len[0] = 4;  // later in the list: not reported
  EXPECT_EQ(first_state_difference(a, b), "num_tokens[1]: reference 0, device 2");
  b = a;
  b.tokens.pop_back();
  EXPECT_EQ(first_state_difference(a, b), "tokens: size 12 vs 11");
  b = a;
  b.leaves_verify_input = true;
  EXPECT_EQ(first_state_difference(a, b), "spec_info after verify");

  Req r, q;
  q.finished_reason = SpecFinishReason::length;
  q.is_retracted = true;
  EXPECT_EQ(first_state_difference(r, q), "finished_reason: reference none, device length");
  q = r;
  q.is_retracted = true;
  EXPECT_EQ(first_state_difference(r, q), "is_retracted: reference false, device true");
  Batch x, y;
  y.spec_info = SpecInfoKind::idle;
  EXPECT_EQ(first_state_difference(x, y), "spec_info: reference none, device idle");
}

// ---- the joined model (issue 15): hybrid SWA/full pool, draft through the pool view -----------------

namespace {

SpecDecodeCase hybrid_case(SpecPath path, int64_t n, const std::vector<SpecCommand>& cmds, int64_t swa, int64_t window,
                           int64_t page = 1) {
  SpecDecodeCase c = make_case(path, n, cmds);
  c.swa_pool_size = swa;
  c.sliding_window = window;
  c.page_size = page;
  return c;
}

/// Prompt 60, SWA pool 64 (full 4096), W = 4, N = 4, four full-acceptance decodes: by the third decode the
/// draft's window (keys [64, 68)) sits on full slots 65..68, whose SWA slots are 1..4 (reused after eviction).
SpecDecodeCase reused_swa_case(SpecPath path) {
  return hybrid_case(path, 4,
                     {{K::add_request, 60, 100, -1, 1}, {K::prefill, 1}, {K::decode, 0, 2, 0}, {K::decode, 0, 2, 1},
                      {K::decode, 0, 2, 2}, {K::decode, 0, 2, 3}},
                     64, 4);
}

std::vector<std::string> run_lockstep(const SpecDecodeCase& c, const std::string& fault, oracle::SpecLockstep** out = nullptr) {
  static std::unique_ptr<oracle::SpecLockstep> keep;
  keep = std::make_unique<oracle::SpecLockstep>(c, oracle::RunOptions{Backend::cpu, fault});
  std::vector<std::string> lines;
  for (int64_t i = 0; i < c.num_commands(); ++i)
    for (const std::string& l : keep->step(c.command(i), i)) lines.push_back(l);
  if (out) *out = keep.get();
  return lines;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
  for (const std::string& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(SpecJoinedModel, SwaEvictionDuringDecodeFreesTheSlotsOutsideTheWindow) {
  // v2, prompt 20, W = 4, N = 3: the first decode evicts positions [0, 20 - 1 - 4) = [0, 15) before allocating.
  const auto c = hybrid_case(SpecPath::v2, 3, {{K::add_request, 20, 50, -1, 1}, {K::prefill, 1}, {K::decode, 0, 2, 0}},
                             64, 4);
  SpecScheduler s(c, [](const SpecVerifyInputs& in) { return spec_verify(in); });
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(s.apply(c.command(i), i).empty());
    const auto v = s.check_invariants(i, "");
    EXPECT_TRUE(v.empty()) << v[0];
  }
  const Req& r = s.reqs()[0];
  EXPECT_EQ(r.swa_evicted_seqlen, 15);
  EXPECT_EQ(r.kv_allocated_len, 20 + 6);
  EXPECT_EQ(r.kv_committed_len, 23);
  const auto pools = s.pools();
  EXPECT_EQ(pools[0].available, 4096 - 26);
  EXPECT_EQ(pools[1].available, 64 - (26 - 15));
  EXPECT_EQ(pools[1].uncached, 26 - 15);
  EXPECT_EQ(s.stats().swa_evictions, 1);
  EXPECT_EQ(s.stats().swa_evicted_tokens, 15);
  EXPECT_EQ(s.stats().full_high_water, 26);
  EXPECT_EQ(s.stats().swa_high_water, 20);  // the prefill's; the decode evicted before allocating (20 - 15 + 6)
}

TEST(SpecJoinedModel, PagedPoolsHoldWholePagesAndV1GivesBackTheRejectedTail) {
  // Page 4, v1, N = 4, prompt 5 (2 pages). Decode with every draft rejected: +4 verify slots (positions 5..8,
  // pages 2 and 3), then committed 6: the pages wholly past ceil_align(6, 4) = 8 go back (page 3).
  const auto c = hybrid_case(SpecPath::v1, 4, {{K::add_request, 5, 50, -1, 1}, {K::prefill, 1}, {K::decode, 0, 1, 0}},
                             4096, int64_t{1} << 20, 4);
  SpecScheduler s(c, [](const SpecVerifyInputs& in) { return spec_verify(in); });
  s.apply(c.command(0), 0);
  s.apply(c.command(1), 1);
  EXPECT_EQ(s.pools()[0].available, 4096 - 8);
  EXPECT_TRUE(s.apply(c.command(2), 2).empty());
  EXPECT_EQ(s.reqs()[0].kv_committed_len, 6);
  EXPECT_EQ(s.reqs()[0].kv_allocated_len, 6);
  EXPECT_EQ(s.pools()[0].available, 4096 - 8);
  EXPECT_EQ(s.pools()[0].uncached, 8);
  EXPECT_EQ(s.stats().full_high_water, 12);
  EXPECT_TRUE(s.check_invariants(2, "").empty());
}

TEST(SpecJoinedModel, TheDraftReadsTheTargetsKvAndAcceptsAsTheCommandSays) {
  // Clean run: the reference and the device kernels' tables agree, the draft's reconstruction is exact, so
  // full_all accepts N - 1 drafts every step; eviction and SWA slot reuse happen on the way.
  for (SpecPath path : {SpecPath::v1, SpecPath::v2}) {
    oracle::SpecLockstep* ls = nullptr;
    const auto lines = run_lockstep(reused_swa_case(path), "", &ls);
    EXPECT_TRUE(lines.empty()) << lines[0];
    EXPECT_EQ(ls->reference().stats().accepted_drafts, 3 * ls->reference().stats().verifies);
    EXPECT_GT(ls->reference().stats().swa_evictions, 0);
    EXPECT_EQ(ls->device().stats().oob_reads, 0);
    EXPECT_EQ(ls->reference().draft_owner(), (std::vector<int64_t>{4, 5}));  // sliding -> layer 4, full -> 5
  }
}

TEST(SpecJoinedModel, SwaStateNotSwappedReadsPastTheSwaCache) {
  const auto lines = run_lockstep(reused_swa_case(SpecPath::v2), "draft_view_swa_state_not_swapped");
  EXPECT_TRUE(any_contains(lines, "device: step 4 decode(batch=0, pattern=full_all, seed=2): draft attention read a "
                                  "bad page-table entry: swa[0, 64] = 65 (valid 1..64)"))
      << (lines.empty() ? "" : lines[0]);
}

TEST(SpecJoinedModel, ClampedPageIndicesReadNoOobButLowerTheAcceptance) {
  for (SpecPath path : {SpecPath::v1, SpecPath::v2}) {
    oracle::SpecLockstep* ls = nullptr;
    const auto lines = run_lockstep(reused_swa_case(path), "draft_view_clamp_page_index", &ls);
    EXPECT_TRUE(any_contains(lines, "lockstep: step 4 decode(batch=0, pattern=full_all, seed=2): verify draft candidates["))
        << (lines.empty() ? "" : lines[0]);
    EXPECT_FALSE(any_contains(lines, "bad page-table entry"));
    EXPECT_EQ(ls->device().stats().oob_reads, 0);
    EXPECT_LT(ls->device().stats().accepted_drafts, ls->reference().stats().accepted_drafts);
    // The wrong drafts are rejected: both stay greedy (no invariant line, only the divergence).
    for (const std::string& l : lines) EXPECT_EQ(l.rfind("lockstep:", 0), 0u) << l;
  }
}

TEST(SpecJoinedModel, TheDraftDoesNotAllocateInTheBorrowedPool) {
  const auto c = hybrid_case(SpecPath::v2, 3, {{K::add_request, 5, 50, -1, 1}, {K::prefill, 1}, {K::decode, 0, 0, 0}},
                             4096, int64_t{1} << 20);
  EXPECT_TRUE(run_lockstep(c, "").empty());
  const auto lines = run_lockstep(c, "draft_prepare_double_allocates");
  EXPECT_TRUE(any_contains(lines, "device: step 2 decode(batch=0, pattern=mixed, seed=0): pool memory leak detected! "
                                  "[full] total=4096, available=4082, evictable=0, protected=0, session_held=0, "
                                  "uncached=11"))
      << (lines.empty() ? "" : lines[0]);
}

TEST(SpecJoinedModel, V2OverallocationLeaksSwaSlotsWhenReleasedAfterAnEviction) {
  // Prompt 20, W = 4, max_new_tokens 3: the first decode evicts, over-allocates 2N = 6 and finishes (LENGTH).
  const auto c = hybrid_case(SpecPath::v2, 3, {{K::add_request, 20, 3, -1, 1}, {K::prefill, 1}, {K::decode, 0, 2, 0}},
                             64, 4);
  EXPECT_TRUE(run_lockstep(c, "").empty());
  const auto lines = run_lockstep(c, "v2_overallocation_not_released_on_swa_evict");
  // Released: committed 23 -> over-allocation [23, 26): 3 SWA slots stay taken.
  EXPECT_TRUE(any_contains(lines, "device: step 2 decode(batch=0, pattern=full_all, seed=0): pool memory leak "
                                  "detected! [swa] total=64, available=61, evictable=0, protected=0, session_held=0, "
                                  "uncached=0"))
      << (lines.empty() ? "" : lines[0]);
  // Without an eviction (no window) the same release is clean.
  auto c2 = c;
  c2.sliding_window = int64_t{1} << 20;
  EXPECT_TRUE(run_lockstep(c2, "v2_overallocation_not_released_on_swa_evict").empty());
}
