/* lockstep implementation plugin ABI, version 1 (plain C99; README "Testing your own kernel").
 *
 * A plugin is a shared library that exports two functions:
 *
 *   const lockstep_impl_desc* lockstep_impl_info(void);
 *   int lockstep_impl_run(const char* op, const lockstep_args* in, lockstep_args* out, char* err, size_t errlen);
 *
 * and is run as the device side of lockstep's op contract: `lockstep fuzz|run|replay --impl path/to/lib.so`.
 * lockstep generates a case, runs its CPU reference, then calls lockstep_impl_run with
 *
 *   in   every field of the op's case, by name, in field order (`lockstep ops --abi OP` lists them):
 *          tensors     kind TENSOR, in the plugin's memory space (desc->memory), contiguous row-major
 *                      (strides in elements given), numel 0 and data NULL for a tensor the case leaves empty;
 *          integers    kind SCALAR, dtype I64, data -> int64_t in host memory;
 *          reals       kind SCALAR, dtype F64, data -> double in host memory;
 *          enums       kind STRING, data -> the value's name (NUL-terminated, host memory), e.g. "bf16".
 *   out  every output the plugin produces, by name, ALLOCATED BY LOCKSTEP with the shape and dtype the
 *        reference produced for this case: tensors in the plugin's memory space, poisoned (NaN / 0xA5..
 *        patterns) — except an output named like an input tensor of the same dtype and shape (an updated
 *        KV cache), which starts as a copy of that input (in-place update semantics); integer outputs are
 *        SCALAR I64 in host memory. The plugin writes every element.
 *
 * It returns 0, or nonzero with a message in err (NUL-terminated, at most errlen bytes): the case is then
 * reported as a failure of the implementation ("device: impl NAME: ...") and the campaign goes on.
 * Input buffers must not be written (lockstep checks them after the call). Calls are serialised (one at a
 * time, from any thread). Outputs of kind info (magnitudes a tolerance is derived from), out-of-range-read
 * logs and string outputs are not asked for: lockstep takes the reference's values (info, strings) or
 * none (oob logs) — `lockstep ops --abi OP` marks them.
 *
 * Capabilities restrict generation: for each op it supports, the plugin lists constraints on case fields;
 * `lockstep fuzz --impl` only generates cases inside them (and shrinks inside them).
 */
#ifndef LOCKSTEP_IMPL_H
#define LOCKSTEP_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOCKSTEP_IMPL_ABI_VERSION 1u
#define LOCKSTEP_MAX_RANK 8

/* Element types; the first six are lockstep's DType values. BF16/F16 are raw 16-bit storage. */
typedef enum lockstep_dtype {
  LOCKSTEP_F32 = 0,
  LOCKSTEP_BF16 = 1,
  LOCKSTEP_F16 = 2,
  LOCKSTEP_I32 = 3,
  LOCKSTEP_I64 = 4,
  LOCKSTEP_BOOL = 5, /* one byte, 0 or 1 */
  LOCKSTEP_F64 = 6   /* real scalars only */
} lockstep_dtype;

typedef enum lockstep_arg_kind { LOCKSTEP_TENSOR = 0, LOCKSTEP_SCALAR = 1, LOCKSTEP_STRING = 2 } lockstep_arg_kind;

typedef enum lockstep_memory { LOCKSTEP_MEMORY_HOST = 0, LOCKSTEP_MEMORY_CUDA = 1 } lockstep_memory;

typedef struct lockstep_arg {
  const char* name;
  int32_t kind;  /* lockstep_arg_kind */
  int32_t dtype; /* lockstep_dtype (TENSOR, SCALAR); unused for STRING */
  int32_t rank;  /* TENSOR: 0..LOCKSTEP_MAX_RANK; SCALAR, STRING: 0 */
  int32_t reserved;
  int64_t shape[LOCKSTEP_MAX_RANK];
  int64_t strides[LOCKSTEP_MAX_RANK]; /* in elements; row-major contiguous in ABI version 1 */
  int64_t numel;                      /* TENSOR: elements (0 for an empty tensor); SCALAR: 1 */
  void* data;                         /* see the file comment for the memory space */
} lockstep_arg;

typedef struct lockstep_args {
  int32_t count;
  lockstep_arg* args;
} lockstep_args;

/* One constraint on one case field (`lockstep ops --abi OP` names the fields and their kinds):
 *   enum field     values: comma-separated allowed names, e.g. "f32" or "causal,dense"
 *   integer field  values: comma-separated allowed integers ("64,128") and/or the range [min, max]
 *   real field     the range [min, max]
 *   tensor field   values: allowed dtypes of the tensor when it is not empty ("f32,bf16"), and/or element
 *                  properties: "finite" (no NaN, no infinity), "distinct" (no two equal elements within a row,
 *                  the last axis; +0 equals -0, NaNs are one value - for an implementation whose order of
 *                  equal values is its own, e.g. torch.topk); e.g. "f32,bf16,finite,distinct";
 *                  [min, max]: its element count
 * A range applies when min <= max (LOCKSTEP_ANY_RANGE: none); values NULL or "" applies no list. */
typedef struct lockstep_capability {
  const char* field;
  const char* values;
  int64_t min;
  int64_t max;
} lockstep_capability;
#define LOCKSTEP_ANY_RANGE 0, -1

typedef struct lockstep_op_support {
  const char* op; /* a registered op (`lockstep list`) */
  const lockstep_capability* caps;
  int32_t num_caps;
} lockstep_op_support;

typedef struct lockstep_impl_desc {
  uint32_t abi_version; /* LOCKSTEP_IMPL_ABI_VERSION */
  const char* name;     /* recorded in reports and dumps */
  int32_t memory;       /* lockstep_memory: where tensor data lives */
  const lockstep_op_support* ops;
  int32_t num_ops;
} lockstep_impl_desc;

typedef const lockstep_impl_desc* (*lockstep_impl_info_fn)(void);
typedef int (*lockstep_impl_run_fn)(const char* op, const lockstep_args* in, lockstep_args* out, char* err,
                                    size_t errlen);

/* ---- helpers for plugins ---- */

/* The argument called `name`, or NULL. */
static inline lockstep_arg* lockstep_find(const lockstep_args* a, const char* name) {
  int32_t i;
  for (i = 0; i < a->count; ++i)
    if (strcmp(a->args[i].name, name) == 0) return &a->args[i];
  return NULL;
}
/* An integer scalar (`fallback` when absent or not an I64 scalar). */
static inline int64_t lockstep_int(const lockstep_args* a, const char* name, int64_t fallback) {
  const lockstep_arg* x = lockstep_find(a, name);
  return x && x->kind == LOCKSTEP_SCALAR && x->dtype == LOCKSTEP_I64 ? *(const int64_t*)x->data : fallback;
}
/* A real scalar (`fallback` when absent or not an F64 scalar). */
static inline double lockstep_real(const lockstep_args* a, const char* name, double fallback) {
  const lockstep_arg* x = lockstep_find(a, name);
  return x && x->kind == LOCKSTEP_SCALAR && x->dtype == LOCKSTEP_F64 ? *(const double*)x->data : fallback;
}
/* An enum's value name ("" when absent). */
static inline const char* lockstep_str(const lockstep_args* a, const char* name) {
  const lockstep_arg* x = lockstep_find(a, name);
  return x && x->kind == LOCKSTEP_STRING ? (const char*)x->data : "";
}
/* A tensor's data when it exists with dtype `dtype`, else NULL. */
static inline void* lockstep_tensor(const lockstep_args* a, const char* name, lockstep_dtype dtype) {
  const lockstep_arg* x = lockstep_find(a, name);
  return x && x->kind == LOCKSTEP_TENSOR && x->dtype == (int32_t)dtype ? x->data : NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* LOCKSTEP_IMPL_H */
