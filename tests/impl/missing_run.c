/* A plugin that includes include/lockstep/impl.h from C99 (compiled -std=c99 -pedantic -Werror) and exports
 * lockstep_impl_info but not lockstep_impl_run: lockstep must refuse it with one line naming the symbol. */
#include "lockstep/impl.h"

static const lockstep_capability kCaps[] = {{"dtype", "f32", LOCKSTEP_ANY_RANGE}};
static const lockstep_op_support kOps[] = {{"rmsnorm", kCaps, 1}};
static const lockstep_impl_desc kDesc = {LOCKSTEP_IMPL_ABI_VERSION, "missing-run", LOCKSTEP_MEMORY_HOST, kOps, 1};

const lockstep_impl_desc* lockstep_impl_info(void) { return &kDesc; }

/* The helpers compile in C too. */
int64_t missing_run_helpers(const lockstep_args* a);
int64_t missing_run_helpers(const lockstep_args* a) {
  return lockstep_int(a, "topk", 0) + (int64_t)lockstep_real(a, "eps", 0.0) + (int64_t)strlen(lockstep_str(a, "dtype")) +
         (lockstep_tensor(a, "x", LOCKSTEP_F32) != NULL);
}
