// Attention for one sequence, per head, AVX2+FMA.
//
// For each head, K is first transposed into scratch (head_dim rows of
// seq_len padded to 16, zero-filled), so the scores of one query row are
// vector FMAs over contiguous memory: s[j..j+8) += q[t] * kt[t][j..j+8).
// Then the row max is subtracted, exp taken, and the output row built as
// sum_j p_j v_j over contiguous v rows, scaled by 1 / sum p at the end.
//
// Scratch (see attention_scratch_floats): kt = head_dim x padded floats,
// then one row of `padded` scores.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/vmath.h"

namespace crossrank::kernels::avx2 {
namespace {

constexpr int kPad = 16;

// s[0, padded) = scale * q . kt[:, j]; four column vectors at a time keep
// four FMA chains in flight.
void scores_row(const float* q, const float* kt, int head_dim, int padded, float scale,
                float* s) {
  const __m256 vscale = _mm256_set1_ps(scale);
  int j = 0;
  for (; j + 32 <= padded; j += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float* col = kt + j;
    for (int t = 0; t < head_dim; ++t, col += padded) {
      const __m256 qt = _mm256_broadcast_ss(q + t);
      a0 = _mm256_fmadd_ps(qt, _mm256_loadu_ps(col), a0);
      a1 = _mm256_fmadd_ps(qt, _mm256_loadu_ps(col + 8), a1);
      a2 = _mm256_fmadd_ps(qt, _mm256_loadu_ps(col + 16), a2);
      a3 = _mm256_fmadd_ps(qt, _mm256_loadu_ps(col + 24), a3);
    }
    _mm256_storeu_ps(s + j, _mm256_mul_ps(a0, vscale));
    _mm256_storeu_ps(s + j + 8, _mm256_mul_ps(a1, vscale));
    _mm256_storeu_ps(s + j + 16, _mm256_mul_ps(a2, vscale));
    _mm256_storeu_ps(s + j + 24, _mm256_mul_ps(a3, vscale));
  }
  for (; j < padded; j += 16) {  // padded is a multiple of 16
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    const float* col = kt + j;
    for (int t = 0; t < head_dim; ++t, col += padded) {
      const __m256 qt = _mm256_broadcast_ss(q + t);
      a0 = _mm256_fmadd_ps(qt, _mm256_loadu_ps(col), a0);
      a1 = _mm256_fmadd_ps(qt, _mm256_loadu_ps(col + 8), a1);
    }
    _mm256_storeu_ps(s + j, _mm256_mul_ps(a0, vscale));
    _mm256_storeu_ps(s + j + 8, _mm256_mul_ps(a1, vscale));
  }
}

// o[0, width) = inv_sum * sum_j p[j] v[j * ld + (0, width)], four rows of v
// at a time in four accumulators. Partial widths use masked loads/stores.
template <bool kFull>
void weighted_sum_v(const float* p, const float* v, std::size_t ld, int L, int width,
                    __m256 inv_sum, float* o) {
  const __m256i m = kFull ? _mm256_setzero_si256() : tail_mask(width);
  auto load = [&](const float* x) { return kFull ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, m); };
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int j = 0;
  for (; j + 4 <= L; j += 4, v += 4 * ld) {
    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), load(v), a0);
    a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 1), load(v + ld), a1);
    a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 2), load(v + 2 * ld), a2);
    a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 3), load(v + 3 * ld), a3);
  }
  for (; j < L; ++j, v += ld) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), load(v), a0);
  const __m256 acc = _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                   inv_sum);
  if (kFull) {
    _mm256_storeu_ps(o, acc);
  } else {
    _mm256_maskstore_ps(o, m, acc);
  }
}

}  // namespace

void attention_heads(const AttentionArgs& args, int head_begin, int head_end) {
  const int L = args.seq_len;
  const int d = args.head_dim;
  const int hidden = args.num_heads * d;
  const int padded = (L + kPad - 1) / kPad * kPad;
  const std::size_t ld = args.ld_qkv;
  float* kt = args.scratch;
  float* s = kt + static_cast<std::size_t>(d) * padded;

  for (int h = head_begin; h < head_end; ++h) {
    const float* q0 = args.qkv + h * d;
    const float* k0 = args.qkv + hidden + h * d;
    const float* v0 = args.qkv + 2 * hidden + h * d;
    for (int t = 0; t < d; ++t) {
      float* row = kt + static_cast<std::size_t>(t) * padded;
      for (int j = 0; j < L; ++j) row[j] = k0[j * ld + t];
      std::fill(row + L, row + padded, 0.f);
    }
    for (int i = 0; i < L; ++i) {
      scores_row(q0 + i * ld, kt, d, padded, args.scale, s);
      // Padding columns take no weight.
      std::fill(s + L, s + padded, -INFINITY);
      __m256 vmax = _mm256_set1_ps(-INFINITY);
      for (int j = 0; j < padded; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
      const __m256 row_max = _mm256_set1_ps(hmax_ps(vmax));
      __m256 vsum = _mm256_setzero_ps();
      for (int j = 0; j < padded; j += 8) {
        const __m256 p = exp_nonpositive_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), row_max));
        _mm256_storeu_ps(s + j, p);
        vsum = _mm256_add_ps(vsum, p);
      }
      const __m256 inv_sum = _mm256_set1_ps(1.f / hsum_ps(vsum));

      float* o = args.out + static_cast<std::size_t>(i) * args.ld_out + h * d;
      // Eight output columns at a time.
      for (int c = 0; c < d; c += 8) {
        const int width = std::min(8, d - c);
        if (width == 8) {
          weighted_sum_v<true>(s, v0 + c, ld, L, width, inv_sum, o + c);
        } else {
          weighted_sum_v<false>(s, v0 + c, ld, L, width, inv_sum, o + c);
        }
      }
    }
  }
}

void attention(const AttentionArgs& args) { attention_heads(args, 0, args.num_heads); }

}  // namespace crossrank::kernels::avx2
