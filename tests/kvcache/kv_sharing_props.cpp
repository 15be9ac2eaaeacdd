// Properties of kv_sharing (ctest label: property): device == reference on generated cases, and the spec's
// §6.3 correctness property on both sides — a KV-shared layer's attention over the reduced query block, reading
// its source layer's cache, equals rows li[k] of the full pass over its own KV when that KV is what the source
// wrote — plus the structural facts of the transform (counts sum to n, the reduced block of each request is its
// logits suffix).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "device/kvcache/kv_sharing.h"
#include "fuzz/kvcache/kv_sharing.h"
#include "oracle/compare.h"
#include "oracle/kvcache/kv_sharing.h"
#include "oracle/op.h"
#include "reference/kvcache/kv_sharing.h"

using namespace lockstep;

RC_GTEST_PROP(KvSharing, DeviceMatchesReference, ()) {
  const KvSharingCase c = *fuzz::gen_kv_sharing_case();
  RC_TAG(dtype_name(c.dtype), c.pure_decode() ? "pure_decode" : "mixed");
  const auto r = oracle::find_op("kv_sharing").run(std::any(c), {});
  if (!r.report.passed) RC_FAIL(oracle::to_text(r.report));
}

namespace {

/// The full pass of shared layer `l` over its own KV := its source's: the device side runs the op on a copy of
/// the case whose layer l is a self-decoder layer with the source's k, v and pre-step cache.
Tensor device_full_pass(const KvSharingCase& c, int64_t l, int64_t src) {
  KvSharingCase f = c;
  f.num_layers = 2;
  f.num_kv_shared_layers = 0;
  f.layer_types = Tensor::from<int32_t>({2}, {static_cast<int32_t>(c.layer_types.get_int(src)),
                                              static_cast<int32_t>(c.layer_types.get_int(l))});
  auto two = [&](const Tensor& t, int64_t a, int64_t b) {
    Shape s = t.shape();
    s[0] = 2;
    Tensor out(t.dtype(), s);
    const size_t bytes = out.nbytes() / 2;
    copy_bytes(out.raw(), t.raw() + a * bytes, bytes);
    copy_bytes(out.raw() + bytes, t.raw() + b * bytes, bytes);
    return out;
  };
  f.q = two(c.q, src, l);
  f.k = two(c.k, src, src);
  f.v = two(c.v, src, src);
  f.kv_cache = two(c.kv_cache, src, src);
  return kv_sharing_layer(device::kv_sharing(f).out, 1);
}

}  // namespace

RC_GTEST_PROP(KvSharing, ReducedBlockEqualsFullPassOnBothSides, ()) {
  const KvSharingCase c = *fuzz::gen_kv_sharing_case();
  const KvSharingOutputs ref = reference::kv_sharing(c), dev = device::kv_sharing(c);
  RC_PRE(ref.config_error.empty());
  const oracle::Tolerance tol = oracle::kv_sharing_tolerance(c, ref, dev);
  const int64_t T = c.num_tokens(), row = c.num_q_heads * c.head_dim, n = ref.num_actual_tokens;
  const double ulp = c.dtype == DType::bf16 ? 0x1p-7 : c.dtype == DType::f16 ? 0x1p-10 : 0x1p-23;  // relative
  const double tiny = c.dtype == DType::f16 ? 0x1p-24 : 0x1p-126;  // spacing below the smallest normal
  for (int64_t l = c.first_shared(); l < c.num_layers; ++l) {
    const int64_t src = ref.kv_source.get_int(l);
    const Tensor full_ref = reference::kv_sharing_full_pass(c, l, src), full_dev = device_full_pass(c, l, src);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t t = c.logits_indices_padded.get_int(k);
      for (int64_t e = 0; e < row; ++e) {
        const double a = ref.out.get((l * T + k) * row + e), b = full_ref.get(t * row + e);
        // Both are the double computation of the same row rounded once to the dtype: at most one ulp apart.
        RC_ASSERT(std::abs(a - b) <= std::abs(b) * ulp + tiny);
        const double d = dev.out.get((l * T + k) * row + e), g = full_dev.get(t * row + e);
        RC_ASSERT(std::abs(d - g) <= 2 * (tol.atol + tol.rtol * std::abs(b)));
      }
    }
  }
}

RC_GTEST_PROP(KvSharing, ReducedBlockIsEachRequestsLogitsSuffix, ()) {
  const KvSharingCase c = *fuzz::gen_kv_sharing_case();
  const KvSharingOutputs o = reference::kv_sharing(c);
  RC_ASSERT(o.num_actual_tokens == (c.pure_decode() ? c.scheduled_tokens() : c.num_logits_indices));
  for (int64_t r = 0; r < c.num_reqs; ++r) {
    const int64_t m = o.query_start_loc.get_int(r + 1) - o.query_start_loc.get_int(r);
    RC_ASSERT(m >= 0 && m <= c.q_len(r) && m <= o.max_query_len);
    for (int64_t k = o.query_start_loc.get_int(r); k < o.query_start_loc.get_int(r + 1); ++k)
      RC_ASSERT(c.logits_indices_padded.get_int(k) == c.query_start_loc.get_int(r + 1) - (o.query_start_loc.get_int(r + 1) - k));
  }
}
