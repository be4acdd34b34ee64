// qs8_gemm_4x4__neon: c = epilogue(dequantise(quantise(a) . Wq^T)), with
// W int8 per output channel and each row of A quantised here in blocks of
// kQuantBlock = 32 columns by quantize_blocks_s8 (see kernels.h).
//
// Packing (pack_int8_panels, kernels/gemm_pack.h, groups of 16): Wq ([n][k]
// int8) becomes ceil(n/4) column panels; in a panel,
// each chunk of 16 k values holds the 4 columns' 16 bytes one after the
// other. k is zero-padded to a multiple of 32, the tail panel's missing
// columns are zero. Quantised rows of A are padded the same way.
//
// Micro-kernel: 4 rows x 4 columns, one int32x4 accumulator per output.
// Per 16 k values, vmull_s8 multiplies the low 8 bytes of a row and a
// column into int16, vmlal_high_s8 adds the high 8 bytes' products, and
// vpadalq_s16 adds adjacent int16 pairs into the int32 lanes. Exact: both
// operands are in [-127, 127] (never -128), so each int16 lane holds at
// most 2 * 127 * 127 = 32258 < 32767, and the int32 sums reach 127 * 127 * 32
// per block. After each block of 32 k (two chunks) the four lanes are added
// and the sum, times the row's block scale, goes into a float accumulator.
//
// The frame around the integer loop (quantising A, walking the tiles) is the
// one int8 frame (kernels/qgemm_frame.h). The epilogue runs on the scalar
// reference's code (ref::apply_epilogue), on the 16 outputs of a tile: it is
// a small share of the work next to k.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/gemm_pack.h"
#include "kernels/neon/qgemm_frame_neon.h"
#include "kernels/ops.h"
#include "kernels/qgemm_frame.h"
#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::neon {
namespace {

constexpr int kMr = kQGemmMr;
constexpr int kNr = kQGemmNr;
constexpr int kChunk = 16;  // k values per int8x16 load
constexpr int kBlock = kQuantBlock;

// sums[r][j] = sum over blocks of float(dot of the block) * block scale.
template <int MR>
inline void tile_sums(const QTile& t, float (*sums)[kNr]) {
  const std::int8_t* w = t.panel;
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < kNr; ++j) sums[r][j] = 0.f;
  for (int blk = 0; blk < t.blocks; ++blk) {
    int32x4_t acc[MR][kNr];
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] = vdupq_n_s32(0);
    for (int ch = blk * (kBlock / kChunk); ch < (blk + 1) * (kBlock / kChunk); ++ch) {
      int8x16_t b[kNr];
      for (int j = 0; j < kNr; ++j) b[j] = vld1q_s8(w + j * kChunk);
      w += kNr * kChunk;
      for (int r = 0; r < MR; ++r) {
        const int8x16_t ar = vld1q_s8(t.a + r * t.lda + ch * kChunk);
        for (int j = 0; j < kNr; ++j) {
          int16x8_t products = vmull_s8(vget_low_s8(ar), vget_low_s8(b[j]));
          products = vmlal_high_s8(products, ar, b[j]);
          acc[r][j] = vpadalq_s16(acc[r][j], products);
        }
      }
    }
    for (int r = 0; r < MR; ++r) {
      const float scale = t.block_scales[r * t.ld_scales + blk];
      for (int j = 0; j < kNr; ++j)
        add_block_sum(&sums[r][j], vaddvq_s32(acc[r][j]), scale);
    }
  }
}

struct Tiles {
  static constexpr int kMr = neon::kMr;
  template <int MR>
  static void tile_sums(const QTile& t, float (*sums)[kNr]) {
    neon::tile_sums<MR>(t, sums);
  }
};

using Frame = QFrame<kNr, kMr>;

}  // namespace

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  pack_int8_panels(q, scales, n, k, kNr, kChunk, kQGemmName, out);
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  qgemm_frame<Frame>(args, row_begin, row_end, col_begin, col_end, kMr,
                     tile_sums_of_rows<Tiles, kMr, kNr>, /*with_block_corrections=*/false);
}

}  // namespace crossrank::kernels::neon
