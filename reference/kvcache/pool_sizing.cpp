#include "reference/kvcache/pool_sizing.h"

namespace lockstep::reference::kvcache {

PoolSizes pool_sizing(const PoolSizingCase& c) {
  validate(c);
  return pool_sizes_unvalidated(c);
}

}  // namespace lockstep::reference::kvcache
