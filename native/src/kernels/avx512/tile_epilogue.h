// The end of a 512-bit GEMM micro-tile of MR rows x 32 columns (two zmm per
// row), shared by the fp32 (avx512f) and bf16 (avx512bf16) kernels: bias,
// GELU or residual, then the masked store. Included only by files built
// with AVX-512F (and AVX2+FMA for the GELU).
#pragma once

#include <immintrin.h>

#include <cstddef>

#include "kernels/gemm_driver.h"
#include "kernels/kernels.h"
#include "kernels/x86/vmath.h"

namespace crossrank::kernels::avx512 {
// Internal linkage: each file that includes this keeps its own copy, built
// with its own ISA flags (an inline function shared between files built with
// different flags could be merged into the copy with the wider ISA).
namespace {

// Masks of the valid lanes of a 32-column tile with nv valid columns.
inline void column_masks(int nv, __mmask16* m0, __mmask16* m1) {
  *m0 = nv >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nv) - 1);
  *m1 = nv >= 32 ? 0xFFFF : nv > 16 ? static_cast<__mmask16>((1u << (nv - 16)) - 1) : 0;
}

// What the 32-column micro-kernels on this epilogue tell the GEMM driver
// (kernels/gemm_driver.h) about a panel's columns: the lanes of its two zmm
// that hold valid columns. Masked loads of columns past the tile read
// nothing, so one tile serves full and partial panels alike.
struct MaskedColumns {
  struct Columns {
    __mmask16 m0, m1;
  };
  static Columns columns(int nv) {
    Columns cols;
    column_masks(nv, &cols.m0, &cols.m1);
    return cols;
  }
  static constexpr bool kFullTiles = false;
};

// GELU on both 256-bit halves with the AVX2 kernel's code (x86/vmath.h), so that the
// tables agree bit for bit.
inline __m512 gelu_halves(__m512 v) {
  const __m256 lo = x86::gelu_ps(_mm512_castps512_ps256(v));
  const __m256 hi = x86::gelu_ps(_mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xEE)));
  // Lanes 0-3 of the first operand's 128-bit blocks (0, 1) then the second's.
  return _mm512_shuffle_f32x4(_mm512_zextps256_ps512(lo), _mm512_zextps256_ps512(hi), 0x44);
}

// Applies t's epilogue to the tile's sums and stores the valid lanes. Masked
// loads of columns past the tile read nothing (no fault), so a partial tile
// runs the same instructions on its valid lanes.
template <int MR>
inline void finish_tile(__m512 (&acc0)[MR], __m512 (&acc1)[MR], float* c, std::size_t ldc,
                        const GemmTile& t, __mmask16 m0, __mmask16 m1) {
  if (t.epilogue != Epilogue::kNone) {
    const __m512 bias0 = _mm512_maskz_loadu_ps(m0, t.bias);
    const __m512 bias1 = _mm512_maskz_loadu_ps(m1, t.bias + 16);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm512_add_ps(acc0[r], bias0);
      acc1[r] = _mm512_add_ps(acc1[r], bias1);
    }
  }
  if (t.epilogue == Epilogue::kBiasGelu) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      acc0[r] = gelu_halves(acc0[r]);
      acc1[r] = gelu_halves(acc1[r]);
    }
  } else if (t.epilogue == Epilogue::kBiasResidual) {
    // Loaded just before the store of the same elements: c may alias it.
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float* res = t.residual + r * t.ldr;
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, res));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, res + 16));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);
  }
}

}  // namespace
}  // namespace crossrank::kernels::avx512
