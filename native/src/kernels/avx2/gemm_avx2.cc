// f32_gemm_6x16__avx2_fma: c = epilogue(a . W^T).
//
// Packing: W ([n][k]) becomes ceil(n/16) column panels; panel p holds
// columns [16p, 16p+16) k-major (16 floats per k step), the tail panel
// zero-padded, so the micro-kernel reads two aligned-size vectors per k.
//
// Micro-kernel: 6 rows x 16 columns in 12 ymm accumulators; per k step two
// loads of W, six broadcasts of A, twelve FMAs, over the whole of k. Rows
// of A are read in place (no packing of A).
//
// Blocking (the one GEMM driver's, kernels/gemm_driver.h): rows in blocks
// of kMc; for each block, every 16-column panel of W is read once and reused
// by every 6-row strip of the block. What
// costs time at BERT shapes is streaming W from L3 once per row block, so
// the block is sized for reuse of W (48 strips), not to keep A in L2.
// Measured on Zen 4 (32 KiB L1, 1 MiB L2) at K = 384..3072, neither slicing
// k (kc = 192..512, accumulators kept in a scratch tile between slices) nor
// packing A into contiguous strips gained: both cost 3-8 %, as the
// prefetchers already stream a panel of W from L2 and six rows of A at
// full speed (one thread, timed by CPU time on a shared machine).
//
// The epilogue (bias, GELU, residual) runs on the accumulators before the
// single store; partial column tiles use masked loads and stores, so every
// element is computed by the same instruction sequence whatever the tile.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/ops.h"
#include "kernels/x86/vmath.h"

namespace crossrank::kernels::avx2 {
namespace {

using x86::gelu_ps;
using x86::kMaskTable;

constexpr int kNr = kGemmNr;
// Rows per block: each panel of W (16 x k floats) is fetched from L3 once
// per block and used by 48 strips of 6 rows. Going from blocks that kept A
// in L2 (18 rows at K = 3072, 84 at K = 768) to 288 rows took the K = 3072
// layer from 69-78 % to 83-90 % of the one-thread FMA peak; 576 rows
// gained nothing more.
constexpr int kMc = 288;

template <int MR, bool kFull>
inline void ukernel(int k, const float* a, std::size_t lda, const float* w, float* c,
                    std::size_t ldc, const GemmTile& t, int nv) {
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  // Fetch the tile's output lines (in the forward pass the residual is c
  // itself) while the k loop runs, so the epilogue does not wait on them;
  // prefetches never fault, so partial tiles need no care. +3-5 % on most BERT
  // shapes and +18 % on attention-output (k = 384, residual) at M = 2048-4096
  // (one thread, CPU time, against the kernel without it in one run).
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNr - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 2
  for (int p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(w);
    const __m256 b1 = _mm256_loadu_ps(w + 8);
    w += kNr;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r * lda + p);
      acc0[r] = _mm256_fmadd_ps(ar, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(ar, b1, acc1[r]);
    }
  }

  __m256i m0 = _mm256_setzero_si256(), m1 = m0;
  if (!kFull) {
    m0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 16 - nv));
    m1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 24 - nv));
  }
  auto load = [&](const float* p, __m256i m) {
    return kFull ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
  };
  auto store = [&](float* p, __m256i m, __m256 v) {
    if (kFull) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, m, v);
    }
  };

  if (t.epilogue != Epilogue::kNone) {
    const __m256 bias0 = load(t.bias, m0);
    const __m256 bias1 = load(t.bias + 8, m1);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm256_add_ps(acc0[r], bias0);
      acc1[r] = _mm256_add_ps(acc1[r], bias1);
    }
  }
  if (t.epilogue == Epilogue::kBiasGelu) {
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      acc0[r] = gelu_ps(acc0[r]);
      acc1[r] = gelu_ps(acc1[r]);
    }
  } else if (t.epilogue == Epilogue::kBiasResidual) {
    // Loaded just before the store of the same elements: c may alias it.
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const float* res = t.residual + r * t.ldr;
      acc0[r] = _mm256_add_ps(acc0[r], load(res, m0));
      acc1[r] = _mm256_add_ps(acc1[r], load(res + 8, m1));
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    store(c + r * ldc, m0, acc0[r]);
    store(c + r * ldc + 8, m1, acc1[r]);
  }
}

// The micro-kernel as the GEMM driver (kernels/gemm_driver.h) calls it.
struct MicroKernel : CountsColumns {
  static constexpr int kMr = kGemmMr;
  static constexpr int kNr = kGemmNr;
  static int row_block(int /*k*/) { return kMc; }
  template <int MR, bool kFull>
  static void tile(int k, const float* a, std::size_t lda, const float* w, float* c,
                   std::size_t ldc, const GemmTile& t, int nv) {
    ukernel<MR, kFull>(k, a, lda, w, c, ldc, t, nv);
  }
};

}  // namespace

CROSSRANK_DEFINE_GEMM(MicroKernel)

}  // namespace crossrank::kernels::avx2
