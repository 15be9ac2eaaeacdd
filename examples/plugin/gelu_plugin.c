/* A complete lockstep plugin in plain C99: gelu_tanh_mul (out = gelu_tanh(gate) * ple) for f32 tensors.
 * Build: cc -std=c99 -O2 -shared -fPIC -I include examples/plugin/gelu_plugin.c -o libgelu.so -lm
 * Run:   lockstep fuzz --impl ./libgelu.so --cases 2000         (README "Testing your own kernel") */
#include <math.h>
#include <stdio.h>

#include "lockstep/impl.h"

static const lockstep_capability kCaps[] = {{"gate", "f32", LOCKSTEP_ANY_RANGE}}; /* f32 cases only */
static const lockstep_op_support kOps[] = {{"gelu_tanh_mul", kCaps, 1}};
static const lockstep_impl_desc kDesc = {LOCKSTEP_IMPL_ABI_VERSION, "gelu-c", LOCKSTEP_MEMORY_HOST, kOps, 1};

const lockstep_impl_desc* lockstep_impl_info(void) { return &kDesc; }

int lockstep_impl_run(const char* op, const lockstep_args* in, lockstep_args* out, char* err, size_t errlen) {
  const lockstep_arg* gate = lockstep_find(in, "gate");
  const float* g = (const float*)lockstep_tensor(in, "gate", LOCKSTEP_F32);
  const float* p = (const float*)lockstep_tensor(in, "ple", LOCKSTEP_F32);
  float* o = (float*)lockstep_tensor(out, "out", LOCKSTEP_F32);
  int64_t i;
  if (gate == NULL || (gate->numel > 0 && (g == NULL || p == NULL || o == NULL))) {
    snprintf(err, errlen, "%s: expected f32 gate, ple and out", op);
    return 1;
  }
  for (i = 0; i < gate->numel; ++i) {
    const float u = 0.7978845608028654f * (g[i] + 0.044715f * (g[i] * g[i] * g[i]));
    o[i] = 0.5f * g[i] * (1.0f + tanhf(u)) * p[i];
  }
  return 0;
}
