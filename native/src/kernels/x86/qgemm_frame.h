// The x86 int8 GEMM frame, shared by the AVX2 kernel (qs8_gemm_4x16__avx2)
// and the AVX-512 VNNI one: the one int8 frame (kernels/qgemm_frame.h) with
// AVX2 quantising of A and an AVX2 epilogue on tiles of 16 columns. A kernel
// on it brings only its integer loop (tile sums) and, if it wants, its own
// twist on the packing.
// Declarations only: the frame is built with the AVX2 kernels' flags, so call
// it only on a CPU that runs them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/qgemm_frame.h"

namespace crossrank::kernels::x86 {

// Columns of every tile on the frame (one panel of packed W).
inline constexpr int kQTileCols = 16;
// The largest mr of any int8 kernel on the qgemm_tiles frame (the AMX
// kernel's: one tile of 16 rows).
inline constexpr int kQGemmMaxMr = 16;

// Packed W: pack_int8_panels (kernels/gemm_pack.h) with kQTileCols columns
// per panel and groups of kQGroup k values; a kernel may transform the
// bytes (the VNNI one offsets them by 128).
inline constexpr int kQGroup = 4;
// qgemm_frame (kernels/qgemm_frame.h) on the x86 pieces: quantise A with
// AVX2 (quantize_blocks_s8's bytes and scales), walk tiles of up to `mr`
// (<= kQGemmMaxMr) rows by kQTileCols columns, ask `tile_sums` for each
// tile's dequantised sums and apply the epilogue.
// tile_sums sets sums[r][0..16), for each row r < t.rows, to the sum over blocks b of
// float(exact int32 dot of the block) * block scale (r, b): from +0, in
// block order, each step one fused multiply-add, so that every kernel gives
// the same floats.
// with_block_corrections: also fill QTile::block_corrections, for a kernel
// that offsets W rather than A to an unsigned operand.
using QTileSums = void (*)(const QTile& t, float (*sums)[kQTileCols]);
void qgemm_tiles(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end,
                 int mr, QTileSums tile_sums, bool with_block_corrections);

// KernelTable::qgemm for an integer loop on this frame. Tiles gives kMr (at
// most kQGemmMaxMr), kWithBlockCorrections and tile_sums<MR>(t, sums) for
// every MR up to kMr (QTileSums' contract).
template <class Tiles>
void qgemm_on_frame(const GemmArgs& args, int row_begin, int row_end, int col_begin,
                    int col_end) {
  static_assert(Tiles::kMr <= kQGemmMaxMr, "the frame holds sums for at most kQGemmMaxMr rows");
  qgemm_tiles(args, row_begin, row_end, col_begin, col_end, Tiles::kMr,
              tile_sums_of_rows<Tiles>, Tiles::kWithBlockCorrections);
}

}  // namespace crossrank::kernels::x86
