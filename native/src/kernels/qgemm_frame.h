// The one int8 GEMM frame: quantise each block of rows of A (per-thread
// buffers, rows zero-padded to a multiple of kQuantBlock), walk the column
// panels and the tiles of up to `mr` rows, ask the ISA's integer loop for each
// tile's dequantised sums, then run the ISA's epilogue on them. An ISA's
// qgemm_<isa>.cc brings only its integer loop and packing (the x86 kernels
// share their frame pieces: kernels/x86/qgemm_frame.cc).
//
// A frame type F (one per ISA family) provides:
//   static constexpr int kNr, kMc, kMaxMr;  tile width (= panel width), rows
//                                   quantised per block, largest tile height
//   static void quantize_row(const float* x, int k, int kp, std::int8_t* q,
//       float* block_scales, std::int32_t* block_corrections);
//                                   quantize_blocks_s8's bytes and scales,
//                                   kp bytes (zeros past k); corrections only
//                                   when not null (see QTile)
//   static void before_tile(const GemmArgs& args, int i, int j, int rows, int nv);
//                                   e.g. prefetch the tile's output lines
//   static void store_tile(const float (*sums)[kNr], const GemmArgs& args,
//       int i, int j, int rows, int nv);
//                                   c = epilogue(sums * column scales)
//
// Header-only, instantiated in one file per frame with that file's flags.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

namespace crossrank::kernels {

// One tile of the int8 GEMM, as the frame hands it to an integer loop.
struct QTile {
  int rows = 0;                        // 1..mr
  int blocks = 0;                      // padded k / kQuantBlock
  const std::int8_t* a = nullptr;      // first row's quantised bytes
  std::size_t lda = 0;                 // bytes per row (padded k)
  const PackedWeights* w = nullptr;
  int panel_index = 0;                 // columns [nr p, nr p + nr)
  const std::int8_t* panel = nullptr;  // panel p of w->qdata
  const float* block_scales = nullptr; // first row's, ld_scales per row
  std::size_t ld_scales = 0;
  // -128 x the sum of each block's quantised values, laid out as
  // block_scales: where a kernel whose unsigned operand is W + 128 starts
  // each block's sum. Null unless the frame was asked for them.
  const std::int32_t* block_corrections = nullptr;
};

inline int qgemm_padded_k(int k) { return (k + kQuantBlock - 1) / kQuantBlock * kQuantBlock; }

// The int8 GEMM on packed W of column panels of F::kNr columns x padded k
// bytes, panel p at qdata + p * kNr * padded k. tile_sums(t, sums) sets
// sums[r][0..kNr), for each row r < t.rows, to the sum over blocks b of
// float(exact int32 dot of the block) * block scale (r, b).
template <class F, class TileSums>
void qgemm_frame(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end,
                 int mr, TileSums tile_sums, bool with_block_corrections) {
  constexpr int kNr = F::kNr;
  constexpr int kMc = F::kMc;
  const int k = args.w->k;
  const int kp = qgemm_padded_k(k);
  const int blocks = kp / kQuantBlock;
  const std::int8_t* packed = args.w->qdata.data();
  // Per pool thread, reused across calls: a block of quantised rows and
  // their block scales (and corrections).
  thread_local std::vector<std::int8_t> qa;
  thread_local std::vector<float> block_scales;
  thread_local std::vector<std::int32_t> block_corrections;
  qa.resize(static_cast<std::size_t>(kMc) * kp);
  block_scales.resize(static_cast<std::size_t>(kMc) * blocks);
  if (with_block_corrections) block_corrections.resize(static_cast<std::size_t>(kMc) * blocks);
  // The tile's sums stay in memory: touched once per block, they would
  // otherwise take registers the integer loop needs. 64-byte alignment: a
  // 512-bit kernel stores a row of 16 as one aligned zmm.
  alignas(64) float sums[F::kMaxMr][kNr];

  for (int ib = row_begin; ib < row_end; ib += kMc) {
    const int ie = std::min(row_end, ib + kMc);
    for (int i = ib; i < ie; ++i) {
      F::quantize_row(args.a + static_cast<std::size_t>(i) * args.lda, k, kp,
                      qa.data() + static_cast<std::size_t>(i - ib) * kp,
                      block_scales.data() + static_cast<std::size_t>(i - ib) * blocks,
                      with_block_corrections
                          ? block_corrections.data() + static_cast<std::size_t>(i - ib) * blocks
                          : nullptr);
    }
    for (int j = col_begin; j < col_end; j += kNr) {
      const int nv = std::min(kNr, col_end - j);
      QTile q;
      q.blocks = blocks;
      q.lda = static_cast<std::size_t>(kp);
      q.w = args.w;
      q.panel_index = j / kNr;
      q.panel = packed + static_cast<std::size_t>(q.panel_index) * kNr * kp;
      q.ld_scales = static_cast<std::size_t>(blocks);
      for (int i = ib; i < ie; i += mr) {
        q.rows = std::min(mr, ie - i);
        q.a = qa.data() + static_cast<std::size_t>(i - ib) * kp;
        q.block_scales = block_scales.data() + static_cast<std::size_t>(i - ib) * blocks;
        q.block_corrections =
            with_block_corrections
                ? block_corrections.data() + static_cast<std::size_t>(i - ib) * blocks
                : nullptr;
        F::before_tile(args, i, j, q.rows, nv);
        tile_sums(q, sums);
        F::store_tile(sums, args, i, j, q.rows, nv);
      }
    }
  }
}

// Kernel::template tile_sums<rows> for rows in [1, MR]: what a kernel hands
// the frame as its tile_sums.
template <class Kernel, int MR = Kernel::kMr, int NR>
void tile_sums_of_rows(const QTile& t, float (*sums)[NR]) {
  if constexpr (MR > 1) {
    if (t.rows != MR) return tile_sums_of_rows<Kernel, MR - 1, NR>(t, sums);
  }
  Kernel::template tile_sums<MR>(t, sums);
}

}  // namespace crossrank::kernels
