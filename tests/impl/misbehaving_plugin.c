/* f32 gelu_tanh_mul (as examples/plugin/gelu_plugin.c) that misbehaves on cases with at least 3 rows, as
 * LOCKSTEP_TEST_MODE says: "crash" (SIGSEGV), "hang" (never returns), "abort". For tests/impl/impl_test.sh:
 * plugin calls run in a forked child, so each is that case's failure and the campaign goes on. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockstep/impl.h"

static const lockstep_capability kCaps[] = {{"gate", "f32", LOCKSTEP_ANY_RANGE}};
static const lockstep_op_support kOps[] = {{"gelu_tanh_mul", kCaps, 1}};
static const lockstep_impl_desc kDesc = {LOCKSTEP_IMPL_ABI_VERSION, "misbehaving-c", LOCKSTEP_MEMORY_HOST, kOps, 1};

const lockstep_impl_desc* lockstep_impl_info(void) { return &kDesc; }

int lockstep_impl_run(const char* op, const lockstep_args* in, lockstep_args* out, char* err, size_t errlen) {
  const lockstep_arg* gate = lockstep_find(in, "gate");
  const float* g = (const float*)lockstep_tensor(in, "gate", LOCKSTEP_F32);
  const float* p = (const float*)lockstep_tensor(in, "ple", LOCKSTEP_F32);
  float* o = (float*)lockstep_tensor(out, "out", LOCKSTEP_F32);
  const char* mode = getenv("LOCKSTEP_TEST_MODE");
  int64_t i;
  if (gate == NULL || (gate->numel > 0 && (g == NULL || p == NULL || o == NULL))) {
    snprintf(err, errlen, "%s: expected f32 gate, ple and out", op);
    return 1;
  }
  if (mode != NULL && gate->rank == 2 && gate->shape[0] >= 3) {
    if (strcmp(mode, "crash") == 0) raise(SIGSEGV);
    if (strcmp(mode, "abort") == 0) abort();
    if (strcmp(mode, "hang") == 0)
      for (;;) pause();
  }
  for (i = 0; i < gate->numel; ++i) {
    const float u = 0.7978845608028654f * (g[i] + 0.044715f * (g[i] * g[i] * g[i]));
    o[i] = 0.5f * g[i] * (1.0f + tanhf(u)) * p[i];
  }
  return 0;
}
