// The softmax step of the attention kernels, shared by the AVX2 and AVX-512
// ones so that their outputs agree bit for bit: the order of the sum of
// exponentials is that of this loop.
//
// Included by kernel files built with different ISA flags, so everything
// here has internal linkage: each file keeps its own copy, built with its
// own flags, and the linker cannot hand one file's copy to the other.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/x86/vmath.h"

namespace crossrank::kernels::x86 {
namespace {

// exp(s - max) over one row of `padded` (a multiple of 8) scores in place,
// the columns past seq_len set to -inf first so that they weigh 0; returns
// 1 / sum.
inline float softmax_row(float* s, int seq_len, int padded) {
  std::fill(s + seq_len, s + padded, -INFINITY);
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (int j = 0; j < padded; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
  const __m256 row_max = _mm256_set1_ps(hmax_ps(vmax));
  __m256 vsum = _mm256_setzero_ps();
  for (int j = 0; j < padded; j += 8) {
    const __m256 e = exp_nonpositive_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), row_max));
    _mm256_storeu_ps(s + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  return 1.f / hsum_ps(vsum);
}

}  // namespace
}  // namespace crossrank::kernels::x86
