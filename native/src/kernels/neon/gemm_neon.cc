// f32_gemm_8x8__neon: c = epilogue(a . W^T).
//
// Packing: W ([n][k]) becomes ceil(n/8) column panels; panel p holds
// columns [8p, 8p+8) k-major (8 floats per k step), the tail panel
// zero-padded, so the micro-kernel reads two full vectors per k.
//
// Micro-kernel: 8 rows x 8 columns in 16 accumulators. A is read in place
// (no packing), four k steps of a row per load, and each k step is one fmla
// by element per accumulator (vfmaq_laneq_f32): per 4 k, 8 loads of A and 8
// of W feed 64 FMAs. 16 accumulators + 8 A vectors + 2 W vectors fit the 32
// q registers with room left, so GCC keeps the loop free of spills (an 8x12
// tile, 24 accumulators, spilled in every k step with GCC 12 because it
// hoists all A loads). A k tail of 1-3 steps multiplies by a scalar of A.
// Blocking (the one GEMM driver's, kernels/gemm_driver.h): rows in blocks
// whose slice of A (mc x k) stays in L2 while each 8 x k panel of W is
// reused by every 8-row strip.
//
// The accumulators go to a small tile on the stack before the epilogue
// (bias, GELU, residual), whose constants would otherwise compete with them
// for registers in the k loop. A partial column tile goes through a
// zero-padded staging row (NEON has no masked loads), so every element is
// computed by the same instruction sequence whatever the tile.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/neon/tile_epilogue.h"
#include "kernels/neon/vmath.h"
#include "kernels/ops.h"

namespace crossrank::kernels::neon {
namespace {

constexpr int kMr = kGemmMr;
constexpr int kNr = kGemmNr;
constexpr int kNv = kNr / 4;  // q registers per row of the micro-tile
// Bytes of A one row block may occupy (half of a 512 KiB-1 MiB L2).
constexpr std::size_t kABlockBytes = 256 * 1024;

using Acc = float32x4_t[kNv];

// One k step (lane L of the A vectors) for MR rows.
template <int L, int MR>
CROSSRANK_NEON_INLINE void step_lane(Acc* acc, const float32x4_t* av, const float* w) {
  float32x4_t b[kNv];
#pragma GCC unroll 4
  for (int v = 0; v < kNv; ++v) b[v] = vld1q_f32(w + 4 * v);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) acc[r][v] = vfmaq_laneq_f32(acc[r][v], b[v], av[r], L);
}

template <int MR, bool kFull>
inline void ukernel(int k, const float* a, std::size_t lda, const float* w, float* c,
                    std::size_t ldc, const GemmTile& t, int nv) {
  float32x4_t acc[MR][kNv];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) acc[r][v] = vdupq_n_f32(0.f);

  int p = 0;
  for (; p + 4 <= k; p += 4, w += 4 * kNr) {
    float32x4_t av[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) av[r] = vld1q_f32(a + r * lda + p);
    step_lane<0, MR>(acc, av, w);
    step_lane<1, MR>(acc, av, w + kNr);
    step_lane<2, MR>(acc, av, w + 2 * kNr);
    step_lane<3, MR>(acc, av, w + 3 * kNr);
  }
  for (; p < k; ++p, w += kNr) {
    float32x4_t b[kNv];
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) b[v] = vld1q_f32(w + 4 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float ar = a[r * lda + p];
#pragma GCC unroll 4
      for (int v = 0; v < kNv; ++v) acc[r][v] = vfmaq_n_f32(acc[r][v], b[v], ar);
    }
  }

  float tile[MR][kNr];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) vst1q_f32(tile[r] + 4 * v, acc[r][v]);
  finish_tile<MR, kFull>(tile, c, ldc, t, nv);
}

// The micro-kernel as the GEMM driver (kernels/gemm_driver.h) calls it.
struct MicroKernel : CountsColumns {
  static constexpr int kMr = kGemmMr;
  static constexpr int kNr = kGemmNr;
  // As many rows as keep the block's slice of A within kABlockBytes.
  static int row_block(int k) {
    const std::size_t row_bytes = std::max<std::size_t>(1, static_cast<std::size_t>(k) * 4);
    return std::max<int>(kMr, static_cast<int>(kABlockBytes / row_bytes) / kMr * kMr);
  }
  template <int MR, bool kFull>
  static void tile(int k, const float* a, std::size_t lda, const float* w, float* c,
                   std::size_t ldc, const GemmTile& t, int nv) {
    ukernel<MR, kFull>(k, a, lda, w, c, ldc, t, nv);
  }
};

}  // namespace

CROSSRANK_DEFINE_GEMM(MicroKernel)

}  // namespace crossrank::kernels::neon
