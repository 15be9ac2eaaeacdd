// The CUDA path's bookkeeping without a GPU (device/core/staged_launch.h, device/core/host_space.h): the
// generic upload -> launch -> download routine run in guarded, poisoned host memory (Backend::staged).
//  - a toy kernel: correct declarations pass; each kind of wrong declaration in buffers() (a missing
//    download, an out declared in, an inout declared out, a count too small) is caught;
//  - every registered op, every fault: over generated cases the staged run's outputs and OOB reads are
//    byte-identical to the direct CPU run (a wrong declaration in an op's buffers() breaks this or fails
//    the run with the staged buffer it names);
//  - RPA staged on 3 CPU-launcher workers gives the one-thread CPU bytes (OOB reads included).
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <vector>

#include "core/attention/ragged_paged_attention.h"
#include "core/error.h"
#include "device/core/faults.h"
#include "device/attention/ragged_paged_attention.h"
#include "device/core/launch.h"
#include "oracle/campaign.h"
#include "oracle/op.h"

namespace lockstep::device {
namespace {

// ---- toy kernel ----

/// How the toy's buffers() declares its buffers: right, or with one planted mistake.
enum class Decl { right, out_as_in, out_as_scratch, inout_as_out, count_too_small };

/// Block b: out[b] = 2 * in[b]; keep[b] = b for even b only (odd elements keep the host's values); tmp is
/// scratch written then read.
struct ToyParams {
  const int32_t* in;
  int32_t* out;
  int32_t* keep;
  int32_t* tmp;
  int64_t n;
  Decl decl;
  static constexpr bool kHostOnly = true;  // no .cu instantiation for a test kernel

  template <class V>
  void buffers(V& v) {
    v.in(in, n);
    switch (decl) {
      case Decl::out_as_in: v.in(out, n); break;
      case Decl::out_as_scratch: v.scratch(out, n); break;
      case Decl::count_too_small: v.out(out, n - 1); break;
      default: v.out(out, n);
    }
    if (decl == Decl::inout_as_out) v.out(keep, n);
    else v.inout(keep, n);
    v.scratch(tmp, n);
  }
};

void kernel_block(const ToyParams& p, const BlockCtx&, int64_t b, unsigned char*) {
  p.tmp[b] = p.in[b];
  p.out[b] = 2 * p.tmp[b];
  if (b % 2 == 0) p.keep[b] = static_cast<int32_t>(b);
}

struct ToyRun {
  std::vector<int32_t> out, keep;
};

ToyRun run_toy(Backend backend, Decl decl, int64_t n = 9) {
  std::vector<int32_t> in(static_cast<size_t>(n)), tmp(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) in[static_cast<size_t>(i)] = static_cast<int32_t>(10 + i);
  ToyRun r{std::vector<int32_t>(static_cast<size_t>(n), 0), std::vector<int32_t>(static_cast<size_t>(n), -7)};
  const ToyParams p{in.data(), r.out.data(), r.keep.data(), tmp.data(), n, decl};
  LaunchGrid grid;
  grid.blocks = n;
  Options o;
  o.backend = backend;
  launch(p, grid, o);
  return r;
}

TEST(StagedLaunch, RightDeclarationsGiveTheCpuBytes) {
  const ToyRun cpu = run_toy(Backend::cpu, Decl::right);
  const ToyRun staged = run_toy(Backend::staged, Decl::right);
  EXPECT_EQ(staged.out, cpu.out);
  EXPECT_EQ(staged.keep, cpu.keep);
  EXPECT_EQ(cpu.keep[1], -7);  // odd elements keep the host's value
}

TEST(StagedLaunch, OutDeclaredInIsNotDownloaded) {
  // The kernel writes a buffer declared `in`: the run fails naming it (and nothing would come back).
  try {
    run_toy(Backend::staged, Decl::out_as_in);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("declared in, but the kernel wrote it"), std::string::npos) << e.what();
  }
}

TEST(StagedLaunch, MissingDownloadLeavesTheHostOutput) {
  EXPECT_NE(run_toy(Backend::staged, Decl::out_as_scratch).out, run_toy(Backend::cpu, Decl::right).out);
}

TEST(StagedLaunch, InoutDeclaredOutComesBackPoisoned) {
  const ToyRun staged = run_toy(Backend::staged, Decl::inout_as_out);
  uint32_t poison;
  std::memset(&poison, HostSpace::kPoison, sizeof poison);
  EXPECT_EQ(static_cast<uint32_t>(staged.keep[1]), poison);
}

TEST(StagedLaunch, CountTooSmallHitsTheGuard) {
  try {
    run_toy(Backend::staged, Decl::count_too_small);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("guard after it overwritten"), std::string::npos) << e.what();
  }
}

// ---- every registered op ----

bool same_value(const FieldValue& a, const FieldValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* t = std::get_if<Tensor>(&a)) {
    const Tensor& u = std::get<Tensor>(b);
    return t->dtype() == u.dtype() && t->shape() == u.shape() && t->nbytes() == u.nbytes() &&
           std::memcmp(t->raw(), u.raw(), t->nbytes()) == 0;
  }
  if (const auto* d = std::get_if<double>(&a)) return std::memcmp(d, &std::get<double>(b), sizeof(double)) == 0;
  return a == b;
}

/// "" when the two side results hold the same bytes, else the first difference.
std::string difference(const oracle::SideResult& cpu, const oracle::SideResult& staged) {
  if (cpu.outputs.fields.size() != staged.outputs.fields.size()) return "different output field counts";
  for (size_t i = 0; i < cpu.outputs.fields.size(); ++i) {
    const auto& [name, value] = cpu.outputs.fields[i];
    if (staged.outputs.fields[i].first != name) return "field " + name + " missing";
    if (!same_value(value, staged.outputs.fields[i].second)) return "output " + name + " differs";
  }
  if (cpu.oob.size() != staged.oob.size() ||
      (!cpu.oob.empty() && std::memcmp(cpu.oob.data(), staged.oob.data(), cpu.oob.size() * sizeof(OobRead)) != 0))
    return "out-of-range reads differ";
  if (cpu.oob_dropped != staged.oob_dropped) return "dropped out-of-range reads differ";
  return "";
}

struct Sweep {
  int64_t compared = 0;
  int64_t with_oob = 0;
};

/// Cases [0, cases) of the op's campaign (seed 11), `mutate` applied, on the cpu and the staged backend.
template <class Mutate>
Sweep sweep(const oracle::Op& op, const std::string& fault, int64_t cases, Mutate mutate) {
  Sweep s;
  for (int64_t i = 0; i < cases; ++i) {
    std::any c = oracle::campaign_case(op, 11, i).value();
    mutate(c, i);
    oracle::SideResult cpu;
    try {
      cpu = op.run_side(c, "device", {Backend::cpu, fault});
    } catch (const Error&) {
      continue;  // an invalid case is rejected before any launch
    }
    oracle::SideResult staged;
    try {
      staged = op.run_side(c, "device", {Backend::staged, fault});
    } catch (const Error& e) {
      ADD_FAILURE() << op.name() << " fault '" << fault << "' case " << i << ": " << e.what() << "\n"
                    << op.case_string(c);
      continue;
    }
    const std::string diff = difference(cpu, staged);
    EXPECT_EQ(diff, "") << op.name() << " fault '" << fault << "' case " << i << "\n" << op.case_string(c);
    ++s.compared;
    s.with_oob += !cpu.oob.empty();
  }
  return s;
}

TEST(StagedLaunch, EveryOpAndFaultGivesTheCpuBytes) {
  for (const auto& op : oracle::registry()) {
    const Sweep s = sweep(*op, "", 150, [](std::any&, int64_t) {});
    EXPECT_GT(s.compared, 75) << op->name() << ": too few valid cases";
    for (const FaultInfo& f : all_faults()) {
      if (f.op != op->name()) continue;
      const Sweep sf = sweep(*op, f.name, 40, [](std::any&, int64_t) {});
      EXPECT_GT(sf.compared, 20) << op->name() << " fault " << f.name << ": too few valid cases";
    }
  }
}

TEST(StagedLaunch, RpaOutOfRangePagesGiveTheCpuLog) {
  // Bad pages in every other slot or every slot: many records from many blocks and from the cache update.
  const oracle::Op& op = oracle::find_op("ragged_paged_attention");
  const Sweep s = sweep(op, "", 100, [](std::any& a, int64_t i) {
    auto pages = std::any_cast<RpaCase&>(a).page_indices.span<int32_t>();
    for (size_t k = 0; k < pages.size(); ++k)
      if ((i % 2 == 0 && k % 2 == 0) || i % 2 == 1) pages[k] = k % 3 == 0 ? -1 : INT_MAX;
  });
  EXPECT_GT(s.with_oob, 30) << "the cases must include out-of-range pages";
}

TEST(StagedLaunch, RpaStagedOnThreeWorkersGivesTheOneThreadCpuBytes) {
  // The staged space runs its kernel on the CPU launcher with options.cpu_threads workers (per-worker OOB logs
  // merged in block order): the same bytes as the plain one-thread CPU run, bad pages included.
  const oracle::Op& op = oracle::find_op("ragged_paged_attention");
  int64_t compared = 0;
  for (int64_t i = 0; i < 60; ++i) {
    RpaCase c = std::any_cast<RpaCase>(oracle::campaign_case(op, 13, i).value());
    auto pages = c.page_indices.span<int32_t>();
    for (size_t k = 0; k < pages.size(); k += 2) pages[k] = i % 2 ? -1 : pages[k];
    RpaOutputs one;
    try {
      one = ragged_paged_attention(c, Options{Backend::cpu, 0, 1});
    } catch (const Error&) {
      continue;
    }
    const RpaOutputs staged = ragged_paged_attention(c, Options{Backend::staged, 0, 3});
    oracle::SideResult a{to_record(one), {}, 0}, b{to_record(staged), {}, 0};
    EXPECT_EQ(difference(a, b), "") << "case " << i;
    ++compared;
  }
  EXPECT_GT(compared, 30);
}

}  // namespace
}  // namespace lockstep::device
