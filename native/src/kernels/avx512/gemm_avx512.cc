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

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/tile_epilogue.h"
#include "kernels/gemm_pack.h"

// GCC 12's AVX-512 headers build their cast and extract intrinsics on an
// "undefined" vector, which -Wmaybe-uninitialized reports at every use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512 {
namespace {

constexpr int kMr = kGemmMr;
constexpr int kNr = kGemmNr;
// Rows per block, for reuse of each panel of W from L2 (36 strips of 8).
constexpr int kMc = 288;

template <int MR>
inline void ukernel(int k, const float* a, std::size_t lda, const float* w, float* c,
                    std::size_t ldc, const Tile& t, __mmask16 m0, __mmask16 m1) {
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

}  // namespace

void gemm_pack(const float* w, int n, int k, PackedWeights* out) {
  pack_column_panels(w, n, k, kNr, kGemmName, out);
}

void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  const int k = args.w->k;
  const std::size_t lda = args.lda, ldc = args.ldc, ldr = args.ldr;
  const float* packed = args.w->data.data();

  for (int ib = row_begin; ib < row_end; ib += kMc) {
    const int ie = std::min(row_end, ib + kMc);
    for (int j = col_begin; j < col_end; j += kNr) {
      const int nv = std::min(kNr, col_end - j);
      __mmask16 m0, m1;
      column_masks(nv, &m0, &m1);
      const float* panel = packed + static_cast<std::size_t>(j / kNr) * kNr * k;
      for (int i = ib; i < ie; i += kMr) {
        Tile t;
        t.epilogue = args.epilogue;
        t.bias = args.epilogue == Epilogue::kNone ? nullptr : args.bias + j;
        t.residual = args.epilogue == Epilogue::kBiasResidual ? args.residual + i * ldr + j
                                                              : nullptr;
        t.ldr = ldr;
        const float* a = args.a + i * lda;
        float* c = args.c + i * ldc + j;
        switch (std::min(kMr, ie - i)) {
          case 8: ukernel<8>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          case 7: ukernel<7>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          case 6: ukernel<6>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          case 5: ukernel<5>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          case 4: ukernel<4>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          case 3: ukernel<3>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          case 2: ukernel<2>(k, a, lda, panel, c, ldc, t, m0, m1); break;
          default: ukernel<1>(k, a, lda, panel, c, ldc, t, m0, m1); break;
        }
      }
    }
  }
}

}  // namespace crossrank::kernels::avx512
