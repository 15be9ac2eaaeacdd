#pragma once
/// Case and output types of `rmsnorm`: the fused RMSNorm family of Gemma-4 serving (spec
/// shared/spec/gemma4-kvcache-speculative.md §2.1–§2.3), one op with a `variant` (core/kernel_enums.h).
///
/// Every reduction is over one row of width H: rrms(v) = 1 / sqrt(sum(v^2) / H + eps), in fp32 on the
/// device (double in the reference). Gemma-4 multiplies by w, NOT Gemma-2/3's (1 + w). All input tensors
/// share `dtype` (bf16, f16 or f32); the layer scalar `scalar` (shape [1]) is loaded as fp32.
///
/// Inputs per variant (M rows, H columns; a tensor a variant does not read must be empty):
///   rmsnorm                       x (M,H), w (H) when with_scale = 1 (empty when 0: no weight at all)
///   add_rmsnorm                   x, r (M,H), w            (sglang RMSNorm(x, residual))
///   rmsnorm_add                   x, r, w                  (S1 gemma_rmsnorm_add)
///   rmsnorm_residual_scalar       x, r, w, scalar          (S1 gemma_rmsnorm_residual_scalar)
///   dual_rmsnorm_residual_scalar  x, x2, r (M,H), w, w2, w3, scalar; eps, eps2, eps3 (S1, x1 = x, w1 = w)
///   post_attn_triple_rmsnorm      x = attn_out, r = residual, w = w_post_attn, w2 = router_scale,
///                                 w3 = w_pre_ff, w4 = w_pre_ff_2; one eps for both reductions (S1 §2.3)
/// eps2 / eps3 are 0 except for the dual variant; with_scale is 1 except for the no-weight rmsnorm.
///
/// Outputs (a variant's unused outputs are empty default tensors on both sides; the shape comparison
/// of Rule::tolerance / exact fails if one side produces one):
///   out           (M,H) x.dtype: y; the triple's `par` (bf16 whatever x.dtype: S1 hardcodes bf16)
///   residual_out  (M,H) x.dtype: add_rmsnorm only, x + r rounded once to x.dtype (exact: the fp32 sum of two
///                 bf16/f16 values rounded to bf16/f16 equals the exactly rounded sum, p' = 24 >= 2p + 2)
///   router_in, dense_ff_in, moe_in  (M,H) bf16: triple only, base * w2 / w3 / w4
#include <array>
#include <cstdint>

#include "core/fields.h"
#include "core/kernel_enums.h"
#include "core/tensor.h"

namespace lockstep {

template <>
struct EnumNames<RmsNormVariant> {
  static constexpr std::array<const char*, 6> names{"rmsnorm",
                                                    "add_rmsnorm",
                                                    "rmsnorm_add",
                                                    "rmsnorm_residual_scalar",
                                                    "dual_rmsnorm_residual_scalar",
                                                    "post_attn_triple_rmsnorm"};
};

struct RmsNormCase {
  RmsNormVariant variant = RmsNormVariant::rmsnorm;
  DType dtype = DType::f32;
  int64_t with_scale = 1;  ///< rmsnorm only: 0 = Gemma4RMSNorm(with_scale=False), no weight
  double eps = 1e-6, eps2 = 0, eps3 = 0;
  int64_t data_seed = 0;  ///< informational: seed the tensor values were drawn from
  Tensor x, r, x2, w, w2, w3, w4, scalar;

  template <class V>
  void fields(V& v) {
    v("variant", variant);
    v("dtype", dtype);
    v("with_scale", with_scale, IntRange{0, 1});
    v("eps", eps);
    v("eps2", eps2);
    v("eps3", eps3);
    v("data_seed", data_seed, IntRange{INT64_MIN, INT64_MAX});
    v("x", x);
    v("r", r);
    v("x2", x2);
    v("w", w);
    v("w2", w2);
    v("w3", w3);
    v("w4", w4);
    v("scalar", scalar);
  }

  int64_t rows() const { return x.rank() == 2 ? x.dim(0) : 0; }
  int64_t width() const { return x.rank() == 2 ? x.dim(1) : 0; }
};

struct RmsNormOutputs {
  Tensor out, residual_out, router_in, dense_ff_in, moe_in;

  template <class V>
  void fields(V& v) {
    v("out", out, Rule{Rule::tolerance});
    v("residual_out", residual_out);
    v("router_in", router_in, Rule{Rule::tolerance});
    v("dense_ff_in", dense_ff_in, Rule{Rule::tolerance});
    v("moe_in", moe_in, Rule{Rule::tolerance});
  }
};

/// Which inputs a variant reads.
struct RmsNormUses {
  bool r, x2, w, w2, w3, w4, scalar;
};
RmsNormUses rmsnorm_uses(const RmsNormCase& c);

/// Output storage dtype of a variant: x.dtype, bf16 for the triple.
DType rmsnorm_out_dtype(const RmsNormCase& c);

/// Validates dtypes, shapes (x rank 2 with H >= 1, M >= 0; row tensors (M,H); weights (H); scalar (1)),
/// that unused tensors are empty, eps (finite, >= FLT_MIN and <= 1e4; eps2/eps3 likewise for the dual
/// variant and 0 otherwise), with_scale, finite values and size limits. Throws Error naming the field.
void validate(const RmsNormCase& c);

/// Zero-filled outputs of the variant's shapes and dtypes (`out_dtype`: rmsnorm_out_dtype, or f32 for the
/// device's f32-output run; residual_out is in `out_dtype` too).
RmsNormOutputs rmsnorm_alloc(const RmsNormCase& c, DType out_dtype);

}  // namespace lockstep
