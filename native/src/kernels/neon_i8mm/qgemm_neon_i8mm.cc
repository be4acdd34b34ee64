// qs8_gemm_8x8__neon_i8mm: the int8 GEMM (kernels.h's qgemm contract) on the
// Arm I8MM matrix multiply-accumulate, smmla (Neoverse V1/V2, Graviton 3/4).
//
// smmla multiplies a 2x8 matrix of int8 (two rows of A, 8 k each, one q
// register) by an 8x2 one (two columns of W, the same 8 k) and adds the 2x2
// int32 products to an accumulator [r0c0, r0c1, r1c0, r1c1]. Both operands
// are signed: A is quantised symmetric (quantize_blocks_s8, never -128) and
// W is int8 per output channel, so the signed form computes the scheme's
// sums directly; usmmla (u8 x s8, vpdpbusd's convention) would need A + 128
// and a per-block correction, for nothing. The int32 sums are exact
// (|sum| <= 127 * 127 * 32 per block), hence the same as the NEON kernel's;
// the float steps after each block are the NEON kernel's own code
// (neon/qgemm_frame_neon.h), so the outputs match it bit for bit.
//
// Packing (pack_int8_panels with groups of 8): W in panels of 8 columns; for
// each 8 k, the 8 columns' 8 bytes one after the other, so columns (2c,
// 2c+1) are one 16-byte load: smmla's right operand as it wants it. The
// quantised rows of A stay row-major (the frame's); a row pair's operand is
// two 8-byte loads combined.
//
// Tile: 8 rows x 8 columns = 4 x 4 accumulators of 2x2 (16 q registers),
// 4 A and 4 W registers per 8 k for 16 smmla.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/gemm_pack.h"
#include "kernels/neon/qgemm_frame_neon.h"
#include "kernels/ops.h"
#include "kernels/qgemm_frame.h"

namespace crossrank::kernels::neon_i8mm {
namespace {

constexpr int kMr = kQGemmMr;
constexpr int kNr = kQGemmNr;
constexpr int kGroup = 8;  // k values per smmla
constexpr int kBlock = kQuantBlock;
constexpr int kColPairs = kNr / 2;
static_assert(kMr % 2 == 0 && kNr % 2 == 0, "smmla works on pairs of rows and columns");

template <int MR>
inline void tile_sums(const QTile& t, float (*sums)[kNr]) {
  constexpr int kRowPairs = (MR + 1) / 2;
  const std::int8_t* w = t.panel;
  // Rows of each pair; an odd tile repeats its last row (its sums unused).
  const std::int8_t* rows[2 * kRowPairs];
  for (int r = 0; r < 2 * kRowPairs; ++r) rows[r] = t.a + (r < MR ? r : MR - 1) * t.lda;
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < kNr; ++j) sums[r][j] = 0.f;
  for (int blk = 0; blk < t.blocks; ++blk) {
    int32x4_t acc[kRowPairs][kColPairs];
    for (int rp = 0; rp < kRowPairs; ++rp)
      for (int cp = 0; cp < kColPairs; ++cp) acc[rp][cp] = vdupq_n_s32(0);
    for (int p = blk * kBlock; p < (blk + 1) * kBlock; p += kGroup) {
      int8x16_t b[kColPairs];
      for (int cp = 0; cp < kColPairs; ++cp) b[cp] = vld1q_s8(w + cp * 16);
      w += kNr * kGroup;
      for (int rp = 0; rp < kRowPairs; ++rp) {
        const int8x16_t a = vcombine_s8(vld1_s8(rows[2 * rp] + p), vld1_s8(rows[2 * rp + 1] + p));
        for (int cp = 0; cp < kColPairs; ++cp) acc[rp][cp] = vmmlaq_s32(acc[rp][cp], a, b[cp]);
      }
    }
    for (int rp = 0; rp < kRowPairs; ++rp) {
      for (int half = 0; half < 2 && 2 * rp + half < MR; ++half) {
        const int r = 2 * rp + half;
        const float scale = t.block_scales[r * t.ld_scales + blk];
        for (int cp = 0; cp < kColPairs; ++cp) {
          std::int32_t dots[4];
          vst1q_s32(dots, acc[rp][cp]);
          neon::add_block_sum(&sums[r][2 * cp], dots[2 * half], scale);
          neon::add_block_sum(&sums[r][2 * cp + 1], dots[2 * half + 1], scale);
        }
      }
    }
  }
}

struct Tiles {
  static constexpr int kMr = neon_i8mm::kMr;
  template <int MR>
  static void tile_sums(const QTile& t, float (*sums)[kNr]) {
    neon_i8mm::tile_sums<MR>(t, sums);
  }
};

using Frame = neon::QFrame<kNr, kMr>;

}  // namespace

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  pack_int8_panels(q, scales, n, k, kNr, kGroup, kQGemmName, out);
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  qgemm_frame<Frame>(args, row_begin, row_end, col_begin, col_end, kMr,
                     tile_sums_of_rows<Tiles, kMr, kNr>, /*with_block_corrections=*/false);
}

}  // namespace crossrank::kernels::neon_i8mm
