#pragma once
/// Oracle hooks of `rmsnorm` (its row: oracle/registry.cpp): coverage regions and the tolerance of the
/// Rule::tolerance outputs, derived per variant from the fp32 arithmetic (oracle/norm/norm_error.h) and the
/// case's magnitudes (recomputed here in double, row by row). Before the output store, with u = 2^-24,
/// e_n = normed_rel(H), N = max |x*rrms*w|, sc = |scalar|:
///   rmsnorm                      e = e_n, a = 0
///   add_rmsnorm                  s' = fl(x + r) = s(1 + u): e = (1 + rrms_rel with g(H+7))(1+u)^3 - 1, a = 0
///   rmsnorm_add                  a = e_n (1+u) N, e = u
///   rmsnorm_residual_scalar      a = sc e_n (1+u)^2 N, e = 3u
///   dual                         c' = c + d, |d_i| <= (e_n (|n1_i| + |n2_i|) + u |c_i|) / (1-u); rrms(c') via
///                                rrms_rel_perturbed; m_i = c_i rrms w3_i off by
///                                (1+u)^2 |w3_i| rrms (|d_i| (1+e3) + |c_i| e3) + g(2) |m_i|; a = sc (1+u)^2 max_i
///                                of that, e = 3u
///   triple                       par: a = max (e_n (1+u) |n_i|) / (1-u), e = u / (1-u); router/dense/moe:
///                                a = max |w_k,i| (1+u)^2 rrms_p (|d_i| (1+ep) + |par_i| ep), e = 3u
/// All outputs of a case share one Tolerance (the widest). The bf16/f16 outputs also pass the exact rounding
/// check (== the f32-output run rounded to nearest-even) and rmsnorm_f32_check below (the f32-output run
/// against the reference at f32 precision, same derivation with O = f32), which is what detects the two
/// rounded-sum faults: they move a bf16/f16 output by at most about one ulp, inside any honest tolerance
/// at that precision.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/norm/rmsnorm.h"
#include "device/norm/rmsnorm.h"
#include "device/norm/rmsnorm_kernel.h"
#include "oracle/compare.h"
#include "oracle/norm/norm_error.h"
#include "oracle/op.h"
#include "reference/norm/rmsnorm.h"

namespace lockstep::oracle {

inline std::vector<Region<RmsNormCase>> rmsnorm_regions() {
  using C = const RmsNormCase&;
  auto any_zero_row = [](C c) {
    const int64_t H = c.width();
    for (int64_t m = 0; m < c.rows(); ++m) {
      bool zero = true;
      for (int64_t i = 0; i < H && zero; ++i) zero = c.x.get(m * H + i) == 0;
      if (zero) return true;
    }
    return false;
  };
  auto max_abs = [](const Tensor& t) {
    double m = 0;
    for (double v : t.values()) m = std::max(m, std::fabs(v));
    return m;
  };
  return Regions<RmsNormCase>()
      .values("variant", {"rmsnorm", "add_rmsnorm", "rmsnorm_add", "rmsnorm_residual_scalar",
                          "dual_rmsnorm_residual_scalar", "post_attn_triple_rmsnorm"},
              [](C c) { return std::string(enum_name(c.variant)); })
      .values("dtype", {"f32", "bf16", "f16"}, [](C c) { return std::string(dtype_name(c.dtype)); })
      .values("width", {"1", "odd", "even", ">=1024"}, [](C c) {
        const int64_t H = c.width();
        return H == 1 ? "1" : H >= 1024 ? ">=1024" : H % 2 ? "odd" : "even";
      })
      .values("rows", {"0", "1", ">1"}, [](C c) { return c.rows() == 0 ? "0" : c.rows() == 1 ? "1" : ">1"; })
      .when("weight=none", [](C c) { return c.variant == RmsNormVariant::rmsnorm && c.with_scale == 0; })
      .when("edge=zero_row", any_zero_row)
      .values("eps", {"<1e-6", "1e-6", ">1e-6"}, [](C c) { return c.eps == 1e-6 ? "1e-6" : c.eps > 1e-6 ? ">1e-6" : "<1e-6"; })
      .values("magnitude", {"tiny", "normal", "big"}, [max_abs](C c) {
        const double m = max_abs(c.x);
        const double big = c.dtype == DType::f16 ? 100 : 1e6;
        return m > 0 && m < 1e-4 ? "tiny" : m > big ? "big" : "normal";
      })
      .values("scalar", {"zero", "negative", "positive"}, [](C c) {
        if (c.scalar.empty()) return "none";
        const double s = c.scalar.get(0);
        return s == 0 ? "zero" : s < 0 ? "negative" : "positive";
      })
      .when("edge=sum_not_representable", [](C c) {  // x + r inexact in dtype: the rounded-sum fault is visible
        if (c.variant != RmsNormVariant::add_rmsnorm || c.dtype == DType::f32) return false;
        for (int64_t i = 0; i < c.x.numel(); ++i) {
          const double s = c.x.get(i) + c.r.get(i);
          if (round_to(c.dtype, s) != s) return true;
        }
        return false;
      })
      .build();
}

/// Tolerance of out / router_in / dense_ff_in / moe_in stored in `od` (see the header comment).
inline Tolerance rmsnorm_tolerance_in(const RmsNormCase& c, DType od) {
  using namespace norm_error;
  using V = RmsNormVariant;
  const int64_t M = c.rows(), H = c.width();
  const double en = normed_rel(H);
  auto wv = [&](const Tensor& w, int64_t i) { return w.empty() ? 1.0 : w.get(i); };
  auto maxw = [&](const Tensor& w) {
    double m = 1;
    for (int64_t i = 0; i < w.numel(); ++i) m = std::max(m, std::fabs(w.get(i)));
    return m;
  };
  const double sc = c.scalar.empty() ? 1.0 : std::fabs(c.scalar.get(0));
  // fp32 underflow of intermediate products (x*rrms, *w, +r, *s): a few half-spacings of the fp32 subnormals,
  // scaled by the factors that follow them.
  const double tiny = 0x1.0p-146 * (1 + maxw(c.w)) * (1 + maxw(c.w2)) * (1 + maxw(c.w3)) * (1 + maxw(c.w4)) * (1 + sc);
  std::vector<double> x(static_cast<size_t>(H)), x2(static_cast<size_t>(H));
  auto load = [&](const Tensor& t, int64_t m, std::vector<double>& v) {
    for (int64_t i = 0; i < H; ++i) v[i] = t.get(m * H + i);
  };
  double n_max = 0, a_dual = 0, a_par = 0, a_k = 0;
  for (int64_t m = 0; m < M; ++m) {
    load(c.x, m, x);
    const double rr = reference::rrms(x.data(), H, c.eps);
    for (int64_t i = 0; i < H; ++i) n_max = std::max(n_max, std::fabs(x[i] * rr * wv(c.w, i)));
    if (c.variant == V::dual_rmsnorm_residual_scalar || c.variant == V::post_attn_triple_rmsnorm) {
      const bool dual = c.variant == V::dual_rmsnorm_residual_scalar;
      double rr2 = 0;
      if (dual) {
        load(c.x2, m, x2);
        rr2 = reference::rrms(x2.data(), H, c.eps2);
      }
      std::vector<double> cv(static_cast<size_t>(H)), d(static_cast<size_t>(H));
      double c2 = 0, d2 = 0;
      for (int64_t i = 0; i < H; ++i) {
        const double n1 = x[i] * rr * wv(c.w, i);
        if (dual) {
          const double n2 = x2[i] * rr2 * wv(c.w2, i);
          cv[i] = n1 + n2;
          d[i] = (en * (std::fabs(n1) + std::fabs(n2)) + u * std::fabs(cv[i])) / (1 - u);
        } else {
          cv[i] = n1 + c.r.get(m * H + i);
          d[i] = (en * (1 + u) * std::fabs(n1) + u * std::fabs(cv[i])) / (1 - u);
          a_par = std::max(a_par, en * (1 + u) * std::fabs(n1) / (1 - u));
        }
        c2 += cv[i] * cv[i];
        d2 += d[i] * d[i];
      }
      const double e2 = dual ? c.eps3 : c.eps;
      const double v = c2 / double(H) + e2;
      const double rr3 = 1 / std::sqrt(v);
      const double e3 = rrms_rel_perturbed(std::sqrt(c2), std::sqrt(d2), H, v);
      for (int64_t i = 0; i < H; ++i) {
        const double core = rr3 * (d[i] * (1 + e3) + std::fabs(cv[i]) * e3);
        if (dual) {
          const double w3 = std::fabs(c.w3.get(i));
          a_dual = std::max(a_dual, sc * (1 + u) * (1 + u) *
                                        ((1 + u) * (1 + u) * w3 * core + g(2) * std::fabs(cv[i] * rr3 * w3)));
        } else {
          const double wk = std::max({std::fabs(c.w2.get(i)), std::fabs(c.w3.get(i)), std::fabs(c.w4.get(i))});
          a_k = std::max(a_k, wk * (1 + u) * (1 + u) * core);
        }
      }
    }
  }
  switch (c.variant) {
    case V::rmsnorm: return stored(od, 0, en, tiny);
    case V::add_rmsnorm: {
      const double e = (1 + inv_sqrt_rel(g(double(H) + 7))) * (1 + 4 * u) * std::pow(1 + u, 3) - 1;
      return stored(od, 0, e, tiny);
    }
    case V::rmsnorm_add: return stored(od, en * (1 + u) * n_max, u, tiny);
    case V::rmsnorm_residual_scalar: return stored(od, sc * en * (1 + u) * (1 + u) * n_max, 3 * u, tiny);
    case V::dual_rmsnorm_residual_scalar: return stored(od, a_dual, 3 * u, tiny);
    case V::post_attn_triple_rmsnorm: return widest(stored(od, a_par, u / (1 - u), tiny), stored(od, a_k, 3 * u, tiny));
  }
  return {};
}

/// The row's tolerance: outputs in their dtype (x.dtype; bf16 for the triple).
inline Tolerance rmsnorm_tolerance(const RmsNormCase& c, const RmsNormOutputs&, const RmsNormOutputs&) {
  return rmsnorm_tolerance_in(c, rmsnorm_out_dtype(c));
}

/// The row's extra check, for bf16/f16 outputs: the device's f32-output run (same backend, same fault) against
/// the reference rounded to f32, within the same derivation at f32 precision (outputs "<name>_f32"). A
/// bf16/f16 output's own comparison must allow about one ulp of the output dtype; this one sees errors far
/// below it — e.g. a kernel that rounds the residual sum or par to bf16 before a norm (the faults
/// rmsnorm_add_from_rounded_sum and triple_norm_par_rounded move outputs by at most about one bf16 ulp).
inline void rmsnorm_f32_check(const RmsNormCase& c, const RmsNormOutputs&, const RmsNormOutputs&, Report& rep) {
  if (rmsnorm_out_dtype(c) == DType::f32) return;  // the output comparison itself is at f32 precision
  if (!rep.impl.empty()) return;  // an external implementation (--impl) has no f32-output mode
  device::Options opt;
  opt.backend = parse_enum<Backend>(rep.backend, "backend");
  for (const device::Fault& f : device::kRmsNormFaults)
    if (rep.fault == f.name) opt.fault = f.id;
  opt.f32_output = true;
  RmsNormOutputs dev;
  if (!run_reporting_errors(rep, "device (f32 output): ", [&] { dev = device::rmsnorm(c, opt); })) return;
  const RmsNormOutputs ref = reference::rmsnorm_in(c, DType::f32);
  const Tolerance tol = rmsnorm_tolerance_in(c, DType::f32);
  compare_output(rep, "out_f32", ref.out, dev.out, tol);
  if (c.variant == RmsNormVariant::post_attn_triple_rmsnorm) {
    compare_output(rep, "router_in_f32", ref.router_in, dev.router_in, tol);
    compare_output(rep, "dense_ff_in_f32", ref.dense_ff_in, dev.dense_ff_in, tol);
    compare_output(rep, "moe_in_f32", ref.moe_in, dev.moe_in, tol);
  }
}

}  // namespace lockstep::oracle
