#pragma once
/// Device `rope`: validates the case, builds the fp32 inv_freq table and runs the single-source kernel
/// (rope_kernel.h) on the CPU launcher or on CUDA.
#include <vector>

#include "core/attention/rope.h"
#include "device/core/options.h"

namespace lockstep::device {

RopeOutputs rope(const RopeCase& c, const Options& options = {});

/// The fp32 inv_freq table of every pair i < head_dim/2: RN_f32(1 / pow(theta_f, e_f)) with theta_f =
/// RN_f32(theta) and e_f = RN_f32(float(2i) / float(head_dim)) — the fp32 operands of HF's fp32 formula
/// `1 / base ** (arange(0, 2 * rope_angles, 2).float() / head_dim)`, with the pow and the reciprocal in
/// double and rounded once (HF's fp32 pow adds at most powf's own error on top).
std::vector<float> rope_inv_freq_f32(double theta, int64_t head_dim);

}  // namespace lockstep::device
