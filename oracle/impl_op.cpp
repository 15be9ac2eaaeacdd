#include "oracle/impl_op.h"

#include <fmt/format.h>

namespace lockstep::oracle {

ImplOp::ImplOp(const Op& base, std::shared_ptr<const Impl> impl)
    : base_(base), impl_(std::move(impl)), support_(&impl_->support(base.name())) {
  impl_->require_memory();
}

rc::Gen<std::any> ImplOp::generator() const {
  const rc::Gen<std::any> gen = base_.generator();
  const Op* base = &base_;
  const ImplOpSupport* sup = support_;
  std::string plugin = impl_->path();
  if (sup->caps.empty()) return gen;
  return rc::Gen<std::any>([gen, base, sup, plugin](const rc::Random& random, int size) -> rc::Shrinkable<std::any> {
    auto inside = [base, sup](const std::any& c) {
      const Record r = base->case_to_record(c);
      for (const Capability& cap : sup->caps)
        if (!cap.accepts(r)) return false;
      return true;
    };
    std::vector<int64_t> rejected(sup->caps.size(), 0);
    rc::Random r = random;
    for (int tries = 0; tries < kImplGenerationTries; ++tries) {
      rc::Shrinkable<std::any> s = gen(r.split(), size);
      const Record rec = base->case_to_record(s.value());
      bool ok = true;
      for (size_t k = 0; k < sup->caps.size() && ok; ++k)
        if (!sup->caps[k].accepts(rec)) {
          ++rejected[k];
          ok = false;
        }
      if (!ok) continue;
      // Shrinks outside the capabilities are dropped, recursively: shrinking stays inside them.
      auto filtered = rc::shrinkable::filter(std::move(s), inside);
      if (filtered) return std::move(*filtered);
    }
    size_t worst = 0;
    for (size_t k = 1; k < rejected.size(); ++k)
      if (rejected[k] > rejected[worst]) worst = k;
    throw Error("--impl", plugin,
                fmt::format("capability {} of op {} rejected {} of {} generated cases (size {}); the op's generator "
                            "cannot reach the declared capabilities",
                            sup->caps[worst].text(), base->name(), rejected[worst], kImplGenerationTries, size));
  });
}

}  // namespace lockstep::oracle
