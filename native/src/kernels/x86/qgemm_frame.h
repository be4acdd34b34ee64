// The x86 int8 GEMM frame, shared by the AVX2 kernel (qs8_gemm_4x16__avx2)
// and the AVX-512 VNNI one: quantising A, walking tiles of 16 columns,
// dequantising and the epilogue. A kernel on it brings only its integer loop
// (tile sums) and, if it wants, its own twist on the packing.
// Declarations only: the frame is built with the AVX2 kernels' flags, so call
// it only on a CPU that runs them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace crossrank::kernels::x86 {

// Columns of every tile on the frame (one panel of packed W).
inline constexpr int kQTileCols = 16;
// The largest mr of any int8 kernel on the qgemm_tiles frame (the AVX-512
// VNNI kernel's).
inline constexpr int kQGemmMaxMr = 8;

// The int8 GEMM's frame, shared with the AVX-512 VNNI kernel: qgemm_tiles
// quantises each block of rows of A (quantize_blocks_s8's bytes and scales,
// rows zero-padded to a multiple of kQuantBlock), walks tiles of up to `mr`
// (<= kQGemmMaxMr) rows by kQTileCols columns, asks `tile_sums` for each
// tile's dequantised sums and applies the epilogue. Packed W must hold
// column panels of kQTileCols columns x padded k bytes, panel p at
// qdata + p * kQTileCols * padded k (what a kernel keeps past them is its own).
struct QTile {
  int rows = 0;                        // 1..mr
  int blocks = 0;                      // padded k / kQuantBlock
  const std::int8_t* a = nullptr;      // first row's quantised bytes
  std::size_t lda = 0;                 // bytes per row (padded k)
  const PackedWeights* w = nullptr;
  int panel_index = 0;                 // columns [16 p, 16 p + 16)
  const std::int8_t* panel = nullptr;  // panel p of w->qdata
  const float* block_scales = nullptr; // first row's, ld_scales per row
  std::size_t ld_scales = 0;
  // -128 x the sum of each block's quantised values, laid out as
  // block_scales: where a kernel whose unsigned operand is W + 128 starts
  // each block's sum. Null unless qgemm_tiles was asked for them.
  const std::int32_t* block_corrections = nullptr;
};
// Bytes of the panels of an n x k matrix (k padded to kQuantBlock).
std::size_t qgemm_panel_bytes(int n, int k);
// qgemm_pack's panels, then extra_bytes of zeros for the kernel's own use
// (so that the caller need not grow qdata itself: see qgemm_avx512vnni.cc).
void qgemm_pack_panels(const std::int8_t* q, const float* scales, int n, int k,
                       const char* packed_for, std::size_t extra_bytes, PackedWeights* out);
// Sets sums[r][0..16), for each row r < t.rows, to the sum over blocks b of
// float(exact int32 dot of the block) * block scale (r, b): from +0, in
// block order, each step one fused multiply-add, so that every kernel gives
// the same floats.
// with_block_corrections: also fill QTile::block_corrections, for a kernel
// that offsets W rather than A to an unsigned operand.
using QTileSums = void (*)(const QTile& t, float (*sums)[kQTileCols]);
void qgemm_tiles(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end,
                 int mr, QTileSums tile_sums, bool with_block_corrections);

}  // namespace crossrank::kernels::x86
