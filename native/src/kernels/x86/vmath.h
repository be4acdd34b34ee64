// Vector math shared by the x86 kernels (AVX2 and the AVX-512 files, whose
// results match the AVX2 ones bit for bit because they run this code). Include
// only from files built with at least -mavx2 -mfma.
//
// Included by kernel files built with different ISA flags, so everything
// here has internal linkage: each file keeps its own copy, built with its
// own flags, and the linker cannot hand one file's copy to the other.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace crossrank::kernels::x86 {
namespace {

// erf(x) as x * P(x^2) / Q(x^2) on [-4, 4] (the rational approximation of
// Eigen / XLA); |error| < 4e-7 over the whole line, erf(+-4) rounds to +-1.
inline __m256 erf_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(4.f), _mm256_max_ps(_mm256_set1_ps(-4.f), x));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
  p = _mm256_mul_ps(p, x);
  __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
  return _mm256_div_ps(p, q);
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)). x is first raised to -10, where
// 1 + erf is exactly 0 in float, so -inf gives -0 rather than -inf * 0.
// vmaxps returns its second operand when either is NaN, so NaN propagates.
inline __m256 gelu_ps(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-10.f), x);
  const __m256 half_x = _mm256_mul_ps(_mm256_set1_ps(0.5f), x);
  const __m256 e = erf_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752440f)));
  return _mm256_fmadd_ps(half_x, e, half_x);
}

// Lane i of the mask loaded from kMaskTable + 16 - n is set iff i < n.
alignas(64) inline constexpr int32_t kMaskTable[32] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0};

inline __m256i tail_mask(int n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 16 - n));
}

// exp(x) for x <= 0 (softmax after subtracting the row max): Cephes expf,
// x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-6 polynomial, 2^n put
// into the exponent; within 2 ulp. Below -87, where 2^n would leave the
// normal range, the result is 0 (also for -inf).
inline __m256 exp_nonpositive_ps(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.f), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(underflow, result);
}

// tanh(x), within 3 ulp (Cephes tanhf). Below |x| = 0.625, where
// 1 - 2/(e^2x + 1) would cancel, an odd polynomial x + x^3 P(x^2); above,
// (1 - e) / (1 + e) with e = exp(-2|x|) <= 0.29, sign restored from x.
// exp_nonpositive_ps gives 0 below -87, so large |x| and +-inf give +-1;
// NaN is passed through.
inline __m256 tanh_ps(__m256 x) {
  const __m256 sign_bit = _mm256_set1_ps(-0.f);
  const __m256 ax = _mm256_andnot_ps(sign_bit, x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 e = exp_nonpositive_ps(_mm256_mul_ps(_mm256_set1_ps(-2.f), ax));
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 large_abs = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  const __m256 large = _mm256_or_ps(large_abs, _mm256_and_ps(sign_bit, x));
  const __m256 is_small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  const __m256 y = _mm256_blendv_ps(large, small, is_small);
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax_ps(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace
}  // namespace crossrank::kernels::x86
