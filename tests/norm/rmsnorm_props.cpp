// Properties of the norm ops (ctest label: property): device == reference on generated cases through the
// registry (tolerance + exact rounding check), and facts that hold on both sides bit for bit: the no-weight
// form equals w = ones, the triple's three outputs share one base, and qkv_rmsnorm is rmsnorm per head.
#include <cstring>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/norm/qkv_rmsnorm.h"
#include "device/norm/rmsnorm.h"
#include "fuzz/core/pick.h"
#include "fuzz/norm/qkv_rmsnorm.h"
#include "fuzz/norm/rmsnorm.h"
#include "oracle/campaign.h"
#include "oracle/op.h"
#include "oracle/report.h"
#include "reference/norm/qkv_rmsnorm.h"
#include "reference/norm/rmsnorm.h"

using namespace lockstep;

RC_GTEST_PROP(RmsNorm, DeviceMatchesReference, ()) {
  const RmsNormCase c = fuzz::materialize(*fuzz::gen_rmsnorm_spec());
  RC_TAG(enum_name(c.variant), dtype_name(c.dtype));
  const auto r = oracle::find_op("rmsnorm").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

RC_GTEST_PROP(RmsNorm, NoWeightEqualsWeightOfOnes, ()) {
  fuzz::RmsNormSpec spec = *fuzz::gen_rmsnorm_spec();
  spec.variant = RmsNormVariant::rmsnorm;
  spec.with_scale = 0;
  const RmsNormCase none = fuzz::materialize(spec);
  RmsNormCase ones = none;
  ones.with_scale = 1;
  ones.w = Tensor(none.dtype, {none.width()});
  for (int64_t i = 0; i < none.width(); ++i) ones.w.set(i, 1.0);
  RC_ASSERT(reference::rmsnorm(none).out == reference::rmsnorm(ones).out);
  RC_ASSERT(device::rmsnorm(none).out == device::rmsnorm(ones).out);
}

RC_GTEST_PROP(RmsNorm, TripleOutputsShareOneBase, ()) {
  fuzz::RmsNormSpec spec = *fuzz::gen_rmsnorm_spec();
  spec.variant = RmsNormVariant::post_attn_triple_rmsnorm;
  RmsNormCase c = fuzz::materialize(spec);
  c.w3 = c.w2;
  c.w4 = c.w2;
  for (const RmsNormOutputs& o : {reference::rmsnorm(c), device::rmsnorm(c)}) {
    RC_ASSERT(o.router_in == o.dense_ff_in);
    RC_ASSERT(o.router_in == o.moe_in);
    RC_ASSERT(o.out.dtype() == DType::bf16);
  }
}

RC_GTEST_PROP(QkvRmsNorm, DeviceMatchesReference, ()) {
  const QkvRmsNormCase c = *fuzz::gen_qkv_rmsnorm_case();
  RC_TAG(dtype_name(c.dtype), c.kv_shared ? "kv_shared" : "qkv");
  const auto r = oracle::find_op("qkv_rmsnorm").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

/// Each head of q_out / k_out / v_out is the rmsnorm op on that head (rows of width head_dim; v with no
/// weight), bit for bit on each side: same kernel arithmetic, same block reduction.
RC_GTEST_PROP(QkvRmsNorm, IsRmsNormPerHead, ()) {
  const QkvRmsNormCase c = *fuzz::gen_qkv_rmsnorm_case();
  const int64_t hd = c.head_dim, T = c.tokens();
  auto per_head = [&](const Tensor& in, const Tensor& w, int64_t heads) {
    RmsNormCase n;
    n.dtype = c.dtype;
    n.eps = c.eps;
    n.x = Tensor(c.dtype, {T * heads, hd});
    copy_bytes(n.x.raw(), in.raw(), in.nbytes());
    n.with_scale = w.empty() ? 0 : 1;
    n.w = w;
    return n;
  };
  const auto ref = reference::qkv_rmsnorm(c);
  const auto dev = device::qkv_rmsnorm(c);
  auto check = [&](const Tensor& in, const Tensor& w, int64_t heads, const Tensor& r, const Tensor& d) {
    const RmsNormCase n = per_head(in, w, heads);
    const Tensor rr = reference::rmsnorm(n).out, dd = device::rmsnorm(n).out;
    RC_ASSERT(std::memcmp(rr.raw(), r.raw(), r.nbytes()) == 0);
    RC_ASSERT(std::memcmp(dd.raw(), d.raw(), d.nbytes()) == 0);
  };
  check(c.q, c.q_weight, c.num_q_heads, ref.q_out, dev.q_out);
  if (c.kv_shared == 0) {
    check(c.k, c.k_weight, c.num_kv_heads, ref.k_out, dev.k_out);
    check(c.v, Tensor(), c.num_kv_heads, ref.v_out, dev.v_out);
  }
}
