// Rows of A rounded to bf16 for the bf16 GEMMs that read A as bf16 rows
// (the AVX512-BF16 kernel and the AMX one): vcvtne2ps2bf16, which rounds as
// kernels/bf16.h's f32_to_bf16, into a per-thread buffer. Included only by
// files built with AVX512-BF16.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace crossrank::kernels {
// Internal linkage: each including file keeps its own copy (and its own
// buffer), built with its own flags.
namespace {

// One growing 64-byte-aligned buffer per thread (plain memory: no
// std::vector grows in a file built with AVX-512 flags; see
// avx512vnni/qgemm_avx512vnni.cc).
struct RowBuffer {
  std::uint16_t* data = nullptr;
  std::size_t capacity = 0;  // in bf16 values
  ~RowBuffer() { std::free(data); }
  std::uint16_t* get(std::size_t values) {
    if (values > capacity) {
      std::free(data);
      const std::size_t bytes = (values * sizeof(std::uint16_t) + 63) / 64 * 64;
      data = static_cast<std::uint16_t*>(std::aligned_alloc(64, bytes));
      capacity = data == nullptr ? 0 : values;
      if (data == nullptr) throw std::bad_alloc();
    }
    return data;
  }
};
thread_local RowBuffer bf16_row_buffer;

// Rounds k floats of each of `rows` rows of a to bf16 into out, row stride
// `width` (>= k), the values past k 0.
inline void round_rows(const float* a, std::size_t lda, int rows, int k, int width,
                       std::uint16_t* out) {
  for (int r = 0; r < rows; ++r) {
    const float* src = a + r * lda;
    std::uint16_t* dst = out + static_cast<std::size_t>(r) * width;
    for (int p = 0; p < width; p += 32) {
      const int left = k - p;
      const __mmask16 lo = left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1 : 0;
      const __mmask16 hi = left >= 32 ? 0xFFFF : left > 16 ? (1u << (left - 16)) - 1 : 0;
      const __m512 v_lo = _mm512_maskz_loadu_ps(lo, src + p);
      const __m512 v_hi = _mm512_maskz_loadu_ps(hi, src + p + 16);
      const __m512bh packed = _mm512_cvtne2ps_pbh(v_hi, v_lo);
      const int out_left = width - p;
      const __mmask32 store = out_left >= 32 ? 0xFFFFFFFFu : (1u << out_left) - 1;
      _mm512_mask_storeu_epi16(dst + p, store, reinterpret_cast<const __m512i&>(packed));
    }
  }
}

}  // namespace
}  // namespace crossrank::kernels
