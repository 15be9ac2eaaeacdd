// Properties of the norm ops (ctest label: property): device == reference on generated cases through the
// registry (tolerance + exact rounding check), and facts that hold on both sides bit for bit: the no-weight
// form equals w = ones, the triple's three outputs share one base, and qkv_rmsnorm is rmsnorm per head.
#include <cmath>
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
#include "oracle/norm/rmsnorm.h"
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

/// The derived tolerances are never vacuous on generated cases: finite, rtol within the output dtype's two
/// roundings plus the fp32 terms (H <= 4,096: below 2^-12), and atol below 2^-10 of the output scale (the
/// largest |reference output| or normalised term the absolute part comes from). Excluded: the triple with a
/// residual cancelling the first norm (r_mode 3): par = n*delta (|delta| <= 0.005) is ill-conditioned, and
/// the shared norm legitimately amplifies the fp32 error bound by ~1/|delta| (atol up to ~2e-3 of the scale).
RC_GTEST_PROP(RmsNorm, TolerancesAreNotVacuous, ()) {
  fuzz::RmsNormSpec spec = *fuzz::gen_rmsnorm_spec();
  RC_PRE(!(spec.variant == RmsNormVariant::post_attn_triple_rmsnorm && spec.r_mode == 3));
  const RmsNormCase c = fuzz::materialize(spec);
  const RmsNormOutputs ref = reference::rmsnorm(c);
  const oracle::Tolerance t = oracle::rmsnorm_tolerance(c, ref, ref);
  const DType od = rmsnorm_out_dtype(c);
  const double uo = od == DType::bf16 ? 0x1.0p-8 : od == DType::f16 ? 0x1.0p-11 : 0x1.0p-24;
  RC_ASSERT(std::isfinite(t.atol));
  RC_ASSERT(t.rtol <= 2.01 * uo + 0x1.0p-12);
  double scale = 1e-30;
  for (const Tensor* o : {&ref.out, &ref.router_in, &ref.dense_ff_in, &ref.moe_in})
    for (double v : o->values()) scale = std::max(scale, std::fabs(v));
  const int64_t H = c.width();
  const double s = c.scalar.empty() ? 1.0 : std::max(1.0, std::fabs(c.scalar.get(0)));
  for (int64_t m = 0; m < c.rows(); ++m) {  // the normalised terms x*rrms*w (times the scalar)
    std::vector<double> x(static_cast<size_t>(H));
    for (int64_t i = 0; i < H; ++i) x[i] = c.x.get(m * H + i);
    const double rr = reference::rrms(x.data(), H, c.eps);
    for (int64_t i = 0; i < H; ++i) scale = std::max(scale, std::fabs(x[i] * rr * (c.w.empty() ? 1.0 : c.w.get(i))) * s);
  }
  RC_LOG() << canonical_string("rmsnorm", c) << " atol " << t.atol << " rtol " << t.rtol << " scale " << scale;
  RC_ASSERT(t.atol <= 0x1.0p-10 * scale + 0x1.0p-23);  // + the f16 subnormal rounding floor
}
