// f32_gemm_8x32__avx512f: c = epilogue(a . W^T), the contract of the AVX2
// kernel (kernels/avx2/gemm_avx2.cc, whose notes on blocking apply here too)
// with 512-bit vectors.
//
// Why a second kernel when Zen 4 runs a 512-bit FMA as two 256-bit halves
// (same FLOPs per cycle as AVX2): the 6x16 AVX2 kernel issues one broadcast
// and one load-or-address op per two FMAs and the front end, not the FMA
// pipes, is what keeps it at 80-90 % of peak. Here each k step is two loads
// of W, eight broadcasts of A and sixteen 512-bit FMAs (32 registers hold
// 16 accumulators), so the FMA pipes are the limit. CPUs with two 512-bit
// FMA units (Intel server parts) also get twice the AVX2 peak.
//
// Every output element is summed over k in the same order, one FMA per step,
// and the epilogue runs the AVX2 kernel's instructions on each 256-bit half:
// the results are bit for bit those of the AVX2 table (the kernel tests check
// this), so choosing this table changes speed only.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/ops.h"
#include "kernels/x86/vmath.h"

// GCC 12's AVX-512 headers build their cast and extract intrinsics on an
// "undefined" vector, which -Wmaybe-uninitialized reports at every use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512 {
namespace {

constexpr int kNr = kGemmNr;
// Rows per block, for reuse of each panel of W from L2 (36 strips of 8).
constexpr int kMc = 288;

// GELU on both 256-bit halves with the AVX2 kernel's code, so that the
// two tables agree bit for bit.
inline __m512 gelu_halves(__m512 v) {
  const __m256 lo = x86::gelu_ps(_mm512_castps512_ps256(v));
  const __m256 hi = x86::gelu_ps(_mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xEE)));
  // Lanes 0-3 of the first operand's 128-bit blocks (0, 1) then the second's.
  return _mm512_shuffle_f32x4(_mm512_zextps256_ps512(lo), _mm512_zextps256_ps512(hi), 0x44);
}

template <int MR>
inline void ukernel(int k, const float* a, std::size_t lda, const float* w, float* c,
                    std::size_t ldc, const GemmTile& t, __mmask16 m0, __mmask16 m1) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  // As in the AVX2 kernel: fetch the output lines while the k loop runs.
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNr - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 2
  for (int p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(w);
    const __m512 b1 = _mm512_loadu_ps(w + 16);
    w += kNr;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * lda + p]);
      acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
    }
  }

  // Masked loads of columns past the tile read nothing (no fault), so a
  // partial tile runs the same instructions on its valid lanes.
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

// The micro-kernel as the GEMM driver (kernels/gemm_driver.h) calls it.
struct MicroKernel {
  static constexpr int kMr = kGemmMr;
  static constexpr int kNr = kGemmNr;
  static int row_block(int /*k*/) { return kMc; }
  // Lanes of the panel's two zmm columns that hold valid columns.
  struct Columns {
    __mmask16 m0, m1;
  };
  static Columns columns(int nv) {
    const __mmask16 m0 = nv >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nv) - 1);
    const __mmask16 m1 = nv >= 32 ? 0xFFFF
                         : nv > 16 ? static_cast<__mmask16>((1u << (nv - 16)) - 1)
                                   : 0;
    return {m0, m1};
  }
  // Masked loads of columns past the tile read nothing: one tile for all.
  static constexpr bool kFullTiles = false;
  template <int MR, bool /*kFull*/>
  static void tile(int k, const float* a, std::size_t lda, const float* w, float* c,
                   std::size_t ldc, const GemmTile& t, const Columns& cols) {
    ukernel<MR>(k, a, lda, w, c, ldc, t, cols.m0, cols.m1);
  }
};

}  // namespace

CROSSRANK_DEFINE_GEMM(MicroKernel)

}  // namespace crossrank::kernels::avx512
