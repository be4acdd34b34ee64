// The one float step every integer loop on the qgemm_tiles frame shares:
// sums[r] += float(dot of block b) * block scale (r, b), as one fused
// multiply-add, explicitly fused so that the rounding does not depend on the
// compiler's contraction setting. The AVX-512 VNNI kernel runs the same
// step lane for lane on 512-bit registers, so its outputs are bit for bit
// those of the AVX2 kernel.
//
// Included by kernel files built with different ISA flags, so everything
// here has internal linkage: each file keeps its own copy, built with its
// own flags, and the linker cannot hand one file's copy to the other.
#pragma once

#include <immintrin.h>

#include "kernels/x86/qgemm_frame.h"

namespace crossrank::kernels::x86 {
namespace {

// dot0[r], dot1[r]: the exact int32 dot products of row r with columns 0-7
// and 8-15 over block blk.
template <int MR>
inline void add_block_sums(const QTile& t, int blk, const __m256i (&dot0)[MR],
                           const __m256i (&dot1)[MR], float (*sums)[kQTileCols]) {
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m256 scale = _mm256_broadcast_ss(t.block_scales + r * t.ld_scales + blk);
    _mm256_store_ps(sums[r], _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot0[r]), scale,
                                             _mm256_load_ps(sums[r])));
    _mm256_store_ps(sums[r] + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot1[r]), scale,
                                                 _mm256_load_ps(sums[r] + 8)));
  }
}

}  // namespace
}  // namespace crossrank::kernels::x86
