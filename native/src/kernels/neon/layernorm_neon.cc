// add_layernorm, NEON: three passes over the (x + residual) row, the sum
// rounded to float first as PyTorch does. Mean and variance are accumulated
// in double (float64x2 lanes), as in the reference: a float sum of a row
// with a large mean loses more than the tolerance. The mean is then split
// into hi + lo floats so the centring x - mean runs in float without losing
// the low part: x - hi is exact when x is near the mean.
// Each pass re-reads x and residual, and out[j] is written only after its
// own inputs were read in the last pass, so out may alias x or residual.
#include <arm_neon.h>

#include <cmath>

#include "kernels/ops.h"

namespace crossrank::kernels::neon {
namespace {

inline float32x4_t load_sum(const float* x, const float* residual, int j) {
  const float32x4_t v = vld1q_f32(x + j);
  return residual ? vaddq_f32(v, vld1q_f32(residual + j)) : v;
}

inline float scalar_sum(const float* x, const float* residual, int j) {
  return residual ? x[j] + residual[j] : x[j];
}

}  // namespace

void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * ld;
    const float* xr = x + off;
    const float* rr = residual ? residual + off : nullptr;
    float* o = out + off;

    float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0;
    int j = 0;
    for (; j + 4 <= cols; j += 4) {
      const float32x4_t v = load_sum(xr, rr, j);
      s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(v)));
      s1 = vaddq_f64(s1, vcvt_high_f64_f32(v));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    for (; j < cols; ++j) sum += scalar_sum(xr, rr, j);
    const double mean = sum / cols;
    const float mean_hi = static_cast<float>(mean);
    const float mean_lo = static_cast<float>(mean - mean_hi);
    const float32x4_t vhi = vdupq_n_f32(mean_hi), vlo = vdupq_n_f32(mean_lo);

    float64x2_t q0 = vdupq_n_f64(0.0), q1 = q0;
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const float32x4_t dv = vsubq_f32(vsubq_f32(load_sum(xr, rr, j), vhi), vlo);
      const float64x2_t d0 = vcvt_f64_f32(vget_low_f32(dv));
      const float64x2_t d1 = vcvt_high_f64_f32(dv);
      q0 = vfmaq_f64(q0, d0, d0);
      q1 = vfmaq_f64(q1, d1, d1);
    }
    double sq = vaddvq_f64(vaddq_f64(q0, q1));
    for (; j < cols; ++j) {
      const double dv = (scalar_sum(xr, rr, j) - mean_hi) - mean_lo;
      sq += dv * dv;
    }
    const float inv_std = static_cast<float>(1.0 / std::sqrt(sq / cols + eps));

    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const float32x4_t dv = vsubq_f32(vsubq_f32(load_sum(xr, rr, j), vhi), vlo);
      const float32x4_t scale = vmulq_n_f32(vld1q_f32(gamma + j), inv_std);
      vst1q_f32(o + j, vfmaq_f32(vld1q_f32(beta + j), dv, scale));
    }
    for (; j < cols; ++j) {
      const float dv = (scalar_sum(xr, rr, j) - mean_hi) - mean_lo;
      o[j] = std::fma(dv, gamma[j] * inv_std, beta[j]);
    }
  }
}

}  // namespace crossrank::kernels::neon
