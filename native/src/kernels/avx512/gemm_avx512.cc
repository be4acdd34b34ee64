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

#include "kernels/avx512/tile_epilogue.h"
#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/ops.h"

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

  finish_tile<MR>(acc0, acc1, c, ldc, t, m0, m1);
}

// The micro-kernel as the GEMM driver (kernels/gemm_driver.h) calls it.
struct MicroKernel : MaskedColumns {
  static constexpr int kMr = kGemmMr;
  static constexpr int kNr = kGemmNr;
  static int row_block(int /*k*/) { return kMc; }
  template <int MR, bool /*kFull*/>
  static void tile(int k, const float* a, std::size_t lda, const float* w, float* c,
                   std::size_t ldc, const GemmTile& t, const Columns& cols) {
    ukernel<MR>(k, a, lda, w, c, ldc, t, cols.m0, cols.m1);
  }
};

}  // namespace

CROSSRANK_DEFINE_GEMM(MicroKernel)

}  // namespace crossrank::kernels::avx512
