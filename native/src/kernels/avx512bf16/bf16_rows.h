// AVX512-BF16 helpers shared by the kernels that round fp32 rows to bf16
// (the AVX512-BF16 GEMM and attention, the AMX GEMM and attention):
// vcvtne2ps2bf16 rounds as kernels/bf16.h's f32_to_bf16. Included only by
// files built with AVX512-BF16.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/row_buffer.h"

namespace crossrank::kernels {
// Internal linkage: each including file keeps its own copy (and its own
// buffer), built with its own flags.
namespace {

thread_local RowBuffer bf16_row_buffer;

// Lanes [0, n) of 16.
inline __mmask16 lanes_below(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>((1u << std::max(n, 0)) - 1);
}

// 32 floats (the lanes of lo, then hi) rounded to bf16 in order: sixteen
// 32-bit pairs, element 2i in the low half.
inline __m512i bf16_pairs(__m512 lo, __m512 hi) {
  const __m512bh packed = _mm512_cvtne2ps_pbh(hi, lo);
  return reinterpret_cast<const __m512i&>(packed);
}

// Sixteen floats of each of two rows rounded to bf16 and interleaved:
// word i holds (x0[i], x1[i]), x0's in the low half -- a column's two rows
// in one 32-bit lane, as vdpbf16ps and tdpbf16ps read pairs of keys.
inline __m512i bf16_column_pairs(__m512 x0, __m512 x1) {
  // vpermw: element i of x0's sixteen beside element i of x1's (elements i
  // and 16 + i of the packed pair).
  alignas(64) static constexpr std::uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInterleave), bf16_pairs(x0, x1));
}

// Rounds k floats of each of `rows` rows of a to bf16 into out, row stride
// `width` (>= k), the values past k 0.
inline void round_rows(const float* a, std::size_t lda, int rows, int k, int width,
                       std::uint16_t* out) {
  for (int r = 0; r < rows; ++r) {
    const float* src = a + r * lda;
    std::uint16_t* dst = out + static_cast<std::size_t>(r) * width;
    for (int p = 0; p < width; p += 32) {
      const __m512 v_lo = _mm512_maskz_loadu_ps(lanes_below(k - p), src + p);
      const __m512 v_hi = _mm512_maskz_loadu_ps(lanes_below(k - p - 16), src + p + 16);
      const int out_left = width - p;
      const __mmask32 store = out_left >= 32 ? 0xFFFFFFFFu : (1u << out_left) - 1;
      _mm512_mask_storeu_epi16(dst + p, store, bf16_pairs(v_lo, v_hi));
    }
  }
}

// Rows [ib, ie) of a GEMM's A rounded into this thread's buffer, each
// `width` (>= k) wide, then zero rows up to `padded_rows` (>= ie - ib): what
// a bf16 GEMM's Operands::rows hands the driver.
inline const std::uint16_t* rounded_row_block(const GemmArgs& args, int ib, int ie, int width,
                                              int padded_rows) {
  const int rows = ie - ib;
  std::uint16_t* out = bf16_row_buffer.get(static_cast<std::size_t>(padded_rows) * width);
  round_rows(args.a + static_cast<std::size_t>(ib) * args.lda, args.lda, rows, args.w->k, width,
             out);
  std::fill(out + static_cast<std::size_t>(rows) * width,
            out + static_cast<std::size_t>(padded_rows) * width, std::uint16_t{0});
  return out;
}

}  // namespace
}  // namespace crossrank::kernels
