#include "core/activation/gelu_tanh_mul.h"

#include <cmath>

namespace lockstep {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 26;

bool float_dtype(DType d) { return d == DType::f32 || d == DType::bf16 || d == DType::f16; }

void check_finite(const Tensor& t, const std::string& name) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = t.get(i);
    if (!std::isfinite(x))
      throw Error(fmt::format("case.{}[{}]", name, i), fmt::format("{}", x),
                  "must be finite (gelu(-inf) * ple is NaN: the op's contract is finite inputs)");
  }
}

}  // namespace

void validate(const GeluTanhMulCase& c) {
  require(c.gate.rank() == 2, "case.gate", c.gate.describe(), "must have rank 2: (M, N)");
  require(float_dtype(c.gate.dtype()), "case.gate", c.gate.describe(), "dtype must be f32, bf16 or f16");
  require(c.gate.dim(1) >= 1, "case.gate", c.gate.describe(), "must have N >= 1 columns");
  require(c.gate.numel() <= kMaxElements, "case.gate", c.gate.describe(), "too many elements");
  require(c.ple.shape() == c.gate.shape(), "case.ple", c.ple.describe(),
          fmt::format("shape {} must match gate's shape {} (gate {} vs ple {})", shape_str(c.ple.shape()),
                      shape_str(c.gate.shape()), c.gate.describe(), c.ple.describe()));
  require(c.ple.dtype() == c.gate.dtype(), "case.ple", c.ple.describe(),
          fmt::format("dtype {} must match gate's dtype {}", dtype_name(c.ple.dtype()), dtype_name(c.gate.dtype())));
  check_finite(c.gate, "gate");
  check_finite(c.ple, "ple");
}

}  // namespace lockstep
