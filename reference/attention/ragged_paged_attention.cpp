#include "reference/attention/ragged_paged_attention.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <Eigen/Dense>

#include "core/attention/softmax_error.h"
#include "core/oob_reads.h"

namespace lockstep::reference {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Cache row of key position `p` of sequence `i`, or -1 (and an OOB record) for a bad page index.
struct PageLookup {
  const RpaCase& c;
  std::map<std::pair<int32_t, int32_t>, OobRead>& oob;
  int64_t row(int64_t i, int64_t p) const {
    const int64_t start = cdiv(c.cu_kv_lens.get_int(i), c.page_size);
    const int64_t slot = start + p / c.page_size;
    const int64_t page = c.page_indices.get_int(slot);
    const int64_t bound = c.kv_cache.dim(0);
    if (page < 0 || page >= bound) {
      auto key = std::make_pair(static_cast<int32_t>(i), static_cast<int32_t>(slot));
      auto first = static_cast<int32_t>(p - p % c.page_size);
      auto [it, inserted] = oob.try_emplace(key, OobRead{key.first, first, key.second, static_cast<int32_t>(page),
                                                         static_cast<int32_t>(bound)});
      if (!inserted) it->second.token = std::min(it->second.token, first);
      return -1;
    }
    return page * c.page_size + p % c.page_size;
  }
};

}  // namespace

std::vector<uint8_t> rpa_allowed(const RpaCase& c, int64_t i) {
  const int64_t q_len = c.q_len(i), kv_len = c.kv_len(i), prefix = kv_len - q_len;
  const int64_t q0 = c.cu_q_lens.get_int(i);
  int64_t mask_base = 0;
  if (c.mode == MaskMode::dense) {
    for (int64_t s = 0; s < i; ++s) mask_base += int64_t{c.q_len(s)} * c.kv_len(s);
  }
  std::vector<uint8_t> allowed(static_cast<size_t>(q_len * kv_len), 0);
  for (int64_t j = 0; j < q_len; ++j) {
    const int64_t q_pos = prefix + j;
    for (int64_t p = 0; p < kv_len; ++p) {
      bool ok = false;
      switch (c.mode) {
        case MaskMode::causal: ok = p <= q_pos; break;
        case MaskMode::dense: ok = c.custom_mask.get_int(mask_base + j * kv_len + p) == 1; break;
        case MaskMode::segment: {
          const int64_t pe = c.prefix_end.get_int(i);
          const int64_t rs = c.row_seg_starts.get_int(q0 + j);
          ok = q_pos < pe ? p <= q_pos : (p < pe || (rs <= p && p <= q_pos));
          break;
        }
      }
      if (c.sliding_window > 0 && q_pos - c.sliding_window >= p) ok = false;
      allowed[static_cast<size_t>(j * kv_len + p)] = ok;
    }
  }
  return allowed;
}

RpaOutputs ragged_paged_attention(const RpaCase& c) {
  validate(c);
  const int64_t T = c.num_tokens(), Hq = c.num_q_heads, Hkv = c.num_kv_heads, D = c.head_dim;
  const int64_t G = Hq / Hkv;
  std::map<std::pair<int32_t, int32_t>, OobRead> oob;
  PageLookup lookup{c, oob};

  RpaOutputs result;
  result.out = Tensor(c.dtype, {T, Hq, D});
  result.kv_cache = c.kv_cache;

  for (int64_t i = 0; i < c.num_seqs; ++i) {
    const int64_t q_len = c.q_len(i), kv_len = c.kv_len(i), prefix = kv_len - q_len;
    const int64_t q0 = c.cu_q_lens.get_int(i);
    if (q_len == 0) continue;
    const std::vector<uint8_t> allowed = rpa_allowed(c, i);  // (q_len, kv_len)
    std::vector<uint8_t> needed(static_cast<size_t>(kv_len), 0);
    for (int64_t j = 0; j < q_len; ++j)
      for (int64_t p = 0; p < kv_len; ++p) needed[p] |= allowed[j * kv_len + p];

    // Cache row of every needed cached key (new keys come from k/v, not from the cache).
    std::vector<int64_t> rows(static_cast<size_t>(kv_len), -1);
    for (int64_t p = 0; p < prefix; ++p)
      if (needed[p]) rows[p] = lookup.row(i, p);

    for (int64_t g = 0; g < Hkv; ++g) {
      Eigen::MatrixXd K = Eigen::MatrixXd::Zero(kv_len, D);  // (kv_len, D)
      Eigen::MatrixXd V = Eigen::MatrixXd::Zero(kv_len, D);  // (kv_len, D)
      for (int64_t p = 0; p < kv_len; ++p) {
        if (!needed[p]) continue;
        for (int64_t d = 0; d < D; ++d) {
          if (p >= prefix) {
            const int64_t t = q0 + (p - prefix);
            K(p, d) = c.k.get((t * Hkv + g) * D + d);
            V(p, d) = c.v.get((t * Hkv + g) * D + d);
          } else if (rows[p] >= 0) {
            K(p, d) = c.kv_cache.get((rows[p] * 2 * Hkv + 2 * g) * D + d);
            V(p, d) = c.kv_cache.get((rows[p] * 2 * Hkv + 2 * g + 1) * D + d);
          }
        }
      }
      const Eigen::VectorXd v_max = V.cwiseAbs().rowwise().maxCoeff();  // (kv_len) max |v_d| per key
      for (int64_t p = 0; p < kv_len; ++p)
        if (needed[p]) result.value_bound = std::max(result.value_bound, v_max(p));
      for (int64_t h = g * G; h < (g + 1) * G; ++h) {
        Eigen::MatrixXd Q(q_len, D);  // (q_len, D)
        for (int64_t j = 0; j < q_len; ++j)
          for (int64_t d = 0; d < D; ++d) Q(j, d) = c.q.get(((q0 + j) * Hq + h) * D + d);
        Eigen::MatrixXd S = (Q * K.transpose()) * c.sm_scale;  // (q_len, kv_len)
        const Eigen::MatrixXd A = (Q.cwiseAbs() * K.cwiseAbs().transpose()) * std::fabs(c.sm_scale);  // (q_len, kv_len)
        for (int64_t j = 0; j < q_len; ++j)
          for (int64_t p = 0; p < kv_len; ++p)
            if (allowed[j * kv_len + p]) result.logit_bound = std::max(result.logit_bound, A(j, p));
        std::vector<double> score_error(static_cast<size_t>(kv_len), 0.0);
        for (int64_t j = 0; j < q_len; ++j) {
          double m = -INFINITY;
          for (int64_t p = 0; p < kv_len; ++p) {
            if (allowed[j * kv_len + p]) score_error[p] = capped_score_error(A(j, p), S(j, p), D, c.soft_cap);
            if (c.soft_cap > 0) S(j, p) = c.soft_cap * std::tanh(S(j, p) / c.soft_cap);
            if (!allowed[j * kv_len + p]) S(j, p) = -INFINITY;
            m = std::max(m, S(j, p));
          }

          Eigen::RowVectorXd w = Eigen::RowVectorXd::Zero(kv_len);
          if (m > -INFINITY) {
            for (int64_t p = 0; p < kv_len; ++p) w(p) = std::exp(S(j, p) - m);  // exp(-inf) = 0
            w /= w.sum();
            double A = 0, vmax = 0;  // softmax-argument error of the row, in output units (RpaOutputs)
            for (int64_t p = 0; p < kv_len; ++p) {
              if (!allowed[j * kv_len + p]) continue;
              A += w(p) * std::expm1(softmax_argument_error(score_error[p], S(j, p), m) + 2 * kF32UnitRoundoff);
              vmax = std::max(vmax, v_max(p));
            }
            result.softmax_error = std::max(result.softmax_error, softmax_weight_error(A) * vmax);
          }
          Eigen::RowVectorXd o = w * V;  // (1, D)
          for (int64_t d = 0; d < D; ++d) result.out.set(((q0 + j) * Hq + h) * D + d, o(d));
        }
      }
    }

    // Cache update: new tokens' K/V land at their positions (bit copies, same dtype).
    const size_t esz = dtype_size(c.dtype);
    for (int64_t p = prefix; p < kv_len; ++p) {
      const int64_t row = lookup.row(i, p);
      if (row < 0) continue;
      const int64_t t = q0 + (p - prefix);
      for (int64_t g = 0; g < Hkv; ++g) {
        std::memcpy(result.kv_cache.raw() + ((row * 2 * Hkv + 2 * g) * D) * esz,
                    c.k.raw() + ((t * Hkv + g) * D) * esz, D * esz);
        std::memcpy(result.kv_cache.raw() + ((row * 2 * Hkv + 2 * g + 1) * D) * esz,
                    c.v.raw() + ((t * Hkv + g) * D) * esz, D * esz);
      }
    }
  }
  std::vector<OobRead> reads;
  for (auto& [key, rec] : oob) reads.push_back(rec);
  result.oob_reads = oob_tensor(reads);
  return result;
}

}  // namespace lockstep::reference
