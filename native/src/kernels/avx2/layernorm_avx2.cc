// LayerNorm with the residual add fused, AVX2+FMA, two passes per row.
//
// Pass 1 forms s = x + residual in float (as PyTorch does, in a separate
// float op), writes it to out, and sums it in double: with a mean far from
// zero (|mean| >> std) a float sum, or a float mean, would already be off by
// more than the tolerance allows relative to the std.
// Pass 2 centres s on the mean, held as a float pair hi + lo so that
// (s - hi) - lo is within 2 ulp of s - mean, and sums the squares in double.
// Pass 3 writes (s - mean) * (gamma / std) + beta.
//
// out may alias x or residual exactly: pass 1 reads x[j] and residual[j]
// before it writes out[j], and later passes read s back from out.
#include <immintrin.h>

#include <cmath>

#include "kernels/ops.h"
#include "kernels/x86/vmath.h"

namespace crossrank::kernels::avx2 {
namespace {

inline __m256d sum_halves_pd(__m256 v, __m256d acc) {
  acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

inline __m256d sum_squares_pd(__m256 v, __m256d acc) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  return _mm256_fmadd_pd(hi, hi, _mm256_fmadd_pd(lo, lo, acc));
}

inline double hsum_pd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

void layernorm_row(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int cols, float* out) {
  const int full = cols / 8 * 8;
  const int rest = cols - full;
  const __m256i tail = x86::tail_mask(rest);

  // Pass 1: s = x + residual, stored in out; sum in double. Two
  // accumulators keep two add chains in flight.
  const float* s = residual ? out : x;
  __m256d sum0 = _mm256_setzero_pd(), sum1 = sum0;
  int j = 0;
  if (residual) {
    for (; j < full; j += 8) {
      const __m256 v = _mm256_add_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(residual + j));
      _mm256_storeu_ps(out + j, v);
      if ((j & 8) == 0) {
        sum0 = sum_halves_pd(v, sum0);
      } else {
        sum1 = sum_halves_pd(v, sum1);
      }
    }
    if (rest) {
      const __m256 v = _mm256_add_ps(_mm256_maskload_ps(x + j, tail),
                                     _mm256_maskload_ps(residual + j, tail));
      _mm256_maskstore_ps(out + j, tail, v);
      sum0 = sum_halves_pd(v, sum0);  // masked lanes are 0 + 0
    }
  } else {
    for (; j < full; j += 8) {
      const __m256 v = _mm256_loadu_ps(x + j);
      if ((j & 8) == 0) {
        sum0 = sum_halves_pd(v, sum0);
      } else {
        sum1 = sum_halves_pd(v, sum1);
      }
    }
    if (rest) sum0 = sum_halves_pd(_mm256_maskload_ps(x + j, tail), sum0);
  }
  const double mean = hsum_pd(_mm256_add_pd(sum0, sum1)) / cols;
  const float mean_hi = static_cast<float>(mean);
  const __m256 vhi = _mm256_set1_ps(mean_hi);
  const __m256 vlo = _mm256_set1_ps(static_cast<float>(mean - mean_hi));
  auto centred = [&](__m256 v) { return _mm256_sub_ps(_mm256_sub_ps(v, vhi), vlo); };

  // Pass 2: variance of the centred row, in double.
  __m256d sq0 = _mm256_setzero_pd(), sq1 = sq0;
  for (j = 0; j < full; j += 8) {
    const __m256 d = centred(_mm256_loadu_ps(s + j));
    if ((j & 8) == 0) {
      sq0 = sum_squares_pd(d, sq0);
    } else {
      sq1 = sum_squares_pd(d, sq1);
    }
  }
  if (rest) {
    // Masked lanes load 0, which is not 0 once centred: clear them.
    const __m256 d = _mm256_and_ps(centred(_mm256_maskload_ps(s + j, tail)),
                                   _mm256_castsi256_ps(tail));
    sq0 = sum_squares_pd(d, sq0);
  }
  const double var = hsum_pd(_mm256_add_pd(sq0, sq1)) / cols;
  const __m256 inv_std = _mm256_set1_ps(static_cast<float>(1.0 / std::sqrt(var + eps)));

  // Pass 3: scale and shift.
  for (j = 0; j < full; j += 8) {
    const __m256 scale = _mm256_mul_ps(inv_std, _mm256_loadu_ps(gamma + j));
    _mm256_storeu_ps(out + j, _mm256_fmadd_ps(centred(_mm256_loadu_ps(s + j)), scale,
                                              _mm256_loadu_ps(beta + j)));
  }
  if (rest) {
    const __m256 scale = _mm256_mul_ps(inv_std, _mm256_maskload_ps(gamma + j, tail));
    const __m256 y = _mm256_fmadd_ps(centred(_mm256_maskload_ps(s + j, tail)), scale,
                                     _mm256_maskload_ps(beta + j, tail));
    _mm256_maskstore_ps(out + j, tail, y);
  }
}

}  // namespace

void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * ld;
    layernorm_row(x + off, residual ? residual + off : nullptr, gamma, beta, eps, cols,
                  out + off);
  }
}

}  // namespace crossrank::kernels::avx2
