// Vector math shared by the NEON kernels: the same approximations as
// x86/vmath.h, so both tables agree to the same error bounds.
#pragma once

#include <arm_neon.h>

// Forces inlining of the micro-kernel's building blocks, so their arrays of
// vectors stay in registers.
#if defined(_MSC_VER) && !defined(__clang__)
#define CROSSRANK_NEON_INLINE __forceinline
#else
#define CROSSRANK_NEON_INLINE inline __attribute__((always_inline))
#endif

namespace crossrank::kernels::neon {

// erf(x) as x * P(x^2) / Q(x^2) on [-4, 4] (the rational approximation of
// Eigen / XLA); |error| < 4e-7 over the whole line, erf(+-4) rounds to +-1.
// NEON fmin/fmax return NaN when either operand is NaN, so NaN propagates.
inline float32x4_t erf_ps(float32x4_t x) {
  x = vminq_f32(vdupq_n_f32(4.f), vmaxq_f32(vdupq_n_f32(-4.f), x));
  const float32x4_t x2 = vmulq_f32(x, x);
  float32x4_t p = vdupq_n_f32(-2.72614225801306e-10f);
  p = vfmaq_f32(vdupq_n_f32(2.77068142495902e-08f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-2.10102402082508e-06f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-5.69250639462346e-05f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-7.34990630326855e-04f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-2.95459980854025e-03f), p, x2);
  p = vfmaq_f32(vdupq_n_f32(-1.60960333262415e-02f), p, x2);
  p = vmulq_f32(p, x);
  float32x4_t q = vdupq_n_f32(-1.45660718464996e-05f);
  q = vfmaq_f32(vdupq_n_f32(-2.13374055278905e-04f), q, x2);
  q = vfmaq_f32(vdupq_n_f32(-1.68282697438203e-03f), q, x2);
  q = vfmaq_f32(vdupq_n_f32(-7.37332916720468e-03f), q, x2);
  q = vfmaq_f32(vdupq_n_f32(-1.42647390514189e-02f), q, x2);
  return vdivq_f32(p, q);
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)). x is first raised to -10, where
// 1 + erf is exactly 0 in float, so -inf gives 0 rather than -inf * 0.
inline float32x4_t gelu_ps(float32x4_t x) {
  x = vmaxq_f32(vdupq_n_f32(-10.f), x);
  const float32x4_t half_x = vmulq_n_f32(x, 0.5f);
  const float32x4_t e = erf_ps(vmulq_n_f32(x, 0.70710678118654752440f));
  return vfmaq_f32(half_x, half_x, e);
}

// exp(x) for x <= 0 (softmax after subtracting the row max): Cephes expf,
// x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-6 polynomial, 2^n put
// into the exponent; within 2 ulp. Below -87, where 2^n would leave the
// normal range, the result is 0 (also for -inf).
inline float32x4_t exp_nonpositive_ps(float32x4_t x) {
  const uint32x4_t underflow = vcltq_f32(x, vdupq_n_f32(-87.f));
  x = vmaxq_f32(x, vdupq_n_f32(-87.f));
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.f)), p, vmulq_f32(r, r));
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t result = vmulq_f32(p, vreinterpretq_f32_s32(bits));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(result), underflow));
}

}  // namespace crossrank::kernels::neon
