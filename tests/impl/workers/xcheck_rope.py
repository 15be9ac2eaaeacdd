"""Independent numpy implementation of lockstep's `rope` (Gemma-4 rotary embedding, sliding "default" and full
"proportional" types), written from the spec (shared/spec/gemma4-kvcache-speculative.md §2.4/§2.5 config) and
the field docs of core/attention/rope.h (HF Gemma4TextRotaryEmbedding + rotate_half), for the session-20
cross-check (tests/impl/xcheck_numeric_test.sh).

  pairs = hd/2 (default) or int(partial_rotary_factor * hd // 2) (proportional)
  inv_freq[i] = theta^(-2i/hd) for i < pairs, 0 for pairs <= i < hd/2  (exponent over the FULL head_dim)
  a_i = pos * inv_freq[i];  out[i] = x[i] cos a_i - x[i+h] sin a_i;  out[i+h] = x[i+h] cos a_i + x[i] sin a_i

XCHECK_ROPE_MODE selects how the arithmetic is rounded (the spec does not prescribe it):
  f64   (default) float64 throughout, one rounding of the result;
  f32   an fp32 kernel: HF's fp32 inv_freq (1 / theta^(2i/hd)), fp32 position * inv_freq, fp32 cos/sin,
        the rotation in fp32, one rounding of the result to the dtype;
  hf32  HF's own evaluation: the angles and cos/sin as f32, cos/sin cast to the input dtype, then
        x*cos + rotate_half(x)*sin in the input dtype (each product and the sum rounded).
No capabilities. The test derives a broken copy from the line marked PAIRING (the proportional type's
exponent over the rotated width instead of the full head_dim)."""
import os

import numpy as np

from lockstep_worker import op, set_name

MODE = os.environ.get("XCHECK_ROPE_MODE", "f64")
set_name(f"xcheck-rope-{MODE}")


def round_to(x, dtype):
    """float64/float32 array -> values representable in dtype (bf16 / f16 / f32), round to nearest even."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "f32":
        return x.astype(np.float32).astype(np.float64)
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float64)
    # bf16: round the float32 value (the double -> float rounding first is harmless for products of bf16
    # values, and matches torch's bf16 ops, which compute in fp32 and round once)
    f = x.astype(np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isnan(f), np.nan, out)


def inv_freq(case, hd):
    theta = float(case["theta"])
    h = hd // 2
    if case["rope_type"] == "proportional":
        pairs = int(float(case["partial_rotary_factor"]) * hd // 2)
        expo_den = hd  # PAIRING
    else:
        pairs, expo_den = h, hd
    i = np.arange(h, dtype=np.float64)
    if MODE in ("f32", "hf32"):
        # HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=int64).float() / dim)) in fp32
        idx = (2 * np.arange(h)).astype(np.float32)
        f = (np.float32(1.0) / (np.float32(theta) ** (idx / np.float32(expo_den)))).astype(np.float32)
        f = np.where(np.arange(h) < pairs, f, np.float32(0.0)).astype(np.float32)
        return f
    f = theta ** (-2.0 * i / expo_den)
    return np.where(np.arange(h) < pairs, f, 0.0)


def rotate(x, pos, freqs, dtype):
    h = x.shape[-1] // 2
    if MODE in ("f32", "hf32"):
        ang = (pos.astype(np.float32)[:, None] * freqs[None, :]).astype(np.float32)
        emb = np.concatenate([ang, ang], axis=-1)
        if MODE == "f32":
            x32 = x.astype(np.float32)
            cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
            rot = np.concatenate([-x32[..., h:], x32[..., :h]], axis=-1)
            return x32 * cos + rot * sin
        cos = round_to(np.cos(emb).astype(np.float32), dtype)[:, None, :]
        sin = round_to(np.sin(emb).astype(np.float32), dtype)[:, None, :]
        rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
        return round_to(round_to(x * cos, dtype) + round_to(rot * sin, dtype), dtype)
    ang = pos.astype(np.float64)[:, None] * freqs[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x1, x2 = x[..., :h], x[..., h:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


@op("rope")
def run(case):
    hd = int(case["head_dim"])
    pos = np.asarray(case["positions"], dtype=np.int64)
    freqs = inv_freq(case, hd)
    dtype = case["dtype"]
    q = np.asarray(case["q"], dtype=np.float64)
    k = np.asarray(case["k"], dtype=np.float64)
    return {"q": rotate(q, pos, freqs, dtype), "k": rotate(k, pos, freqs, dtype)}
