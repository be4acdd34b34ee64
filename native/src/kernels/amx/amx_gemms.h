// The AMX GEMMs, written once as templates on the tile operations
// (kernels/amx/tiles.h): amx/gemm_amx.cc instantiates them on the hardware
// tiles for the "amx" table, avx512bf16/amx_emulated.cc on the scalar
// emulation for the tests. Everything around the tiles (rounding or
// quantising A, the epilogue) is AVX-512 code, so both files are built with
// AVX512-BF16 (and the hardware one with -mamx-*).
//
// bf16_gemm_32x32__amx (bgemm): tiles of 32 rows x 32 columns as four fp32
// accumulator tiles C00, C01, C10, C11 (16 x 16 each, tmm0-3), two tiles of
// A (16 rows x 32 bf16, tmm4-5) and two of W (16 pairs of k x 16 columns,
// tmm6-7) per step of 32 k: 4 tdpbf16ps per 4 tile loads, oneDNN's 2 x 2
// blocking. W is the AVX512-BF16 kernel's pair panels of 32 columns with k
// padded to a multiple of 32: a step's 16 pairs of one 16-column half are
// 16 rows of 64 bytes at a stride of 128, a tile load as they are. A is
// rounded to bf16 per row block (vcvtne2ps2bf16) into rows padded with
// zeros to a multiple of 32 k and 32 rows, so every tile load is whole. A
// tile of 16 rows or fewer uses C00 and C01 only. The sums go through
// memory (tilestored) to the avx512f kernel's epilogue.
//
// What tdpbf16ps computes (SDM): for each output, over the instruction's 16
// pairs of k, the products of the even elements summed in one fp32
// temporary and those of the odd ones in another (in k order, each addition
// rounded to nearest even), then C += even + odd. That is neither
// vdpbf16ps's order nor Arm's, so this kernel's reference is
// ref::bgemm_amx (the same steps of 16 pairs), and its results are its own:
// bit for bit those of the reference, not those of the other bf16 tables.
//
// qs8_gemm_16x16__amx (qgemm): the int8 GEMM on the x86 int8 frame (same
// quantisation of A in blocks of 32 k, same epilogue as the AVX2 and VNNI
// kernels) with tiles of 16 rows x 16 columns: per block of 32 k, one tile
// of A (16 rows x 32 bytes, straight from the frame's quantised rows), one
// of W (8 groups of 4 k x 16 columns: the AVX2 kernel's panels, 64 bytes a
// group), tdpbssd into a zeroed int32 tile, which then goes through memory
// to the float step of the VNNI kernel: sum += float(dot) * block scale, one
// fused multiply-add per block in block order. tdpbssd multiplies signed
// bytes by signed bytes, so W needs no +128 offset and A no correction, and
// the block's int32 dot is exact (at most 32 x 127 x 127 in magnitude): the
// very integers the VNNI and AVX2 kernels sum, hence the same output bits.
// The per-block scale is why k steps by 32 (half a tile row), not 64: a
// block's dot must be read out before the next block's is added. Two
// accumulator tiles alternate between blocks so that the read-out of one
// block overlaps the next block's tdpbssd.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/amx/tiles.h"
#include "kernels/avx512/tile_epilogue.h"
#include "kernels/avx512bf16/bf16_rows.h"
#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/qgemm_frame.h"
#include "kernels/x86/qgemm_frame.h"

namespace crossrank::kernels::amx_gemms {
// Internal linkage: instantiated in each including file with its flags.
namespace {

using amx_tiles::TileConfig;

// ---- bf16 ---------------------------------------------------------------

inline constexpr int kBf16Mr = 32;
inline constexpr int kBf16Nr = 32;
inline constexpr int kBf16KStep = 32;  // bf16 per tile row (64 bytes)
// Rows of A rounded at a time (a multiple of kBf16Mr): as the AVX512-BF16
// kernel's, the block stays in L2 while the panels of W stream past.
inline constexpr int kBf16Mc = 96;

inline int bf16_padded_k(int k) { return (k + kBf16KStep - 1) / kBf16KStep * kBf16KStep; }

constexpr TileConfig bf16_tile_config() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) config.set(t, 16, 64);  // C, A and W alike
  return config;
}

template <class Tiles>
struct Bf16MicroKernel : avx512::MaskedColumns {
  static constexpr int kMr = kBf16Mr;
  static constexpr int kNr = kBf16Nr;
  static int row_block(int /*k*/) { return kBf16Mc; }
  struct Operands {
    using A = std::uint16_t;
    using W = std::uint16_t;
    static const W* panels(const PackedWeights& w) { return w.bdata.data(); }
    static std::size_t panel_depth(int k) { return static_cast<std::size_t>(bf16_padded_k(k)); }
    // Rows [ib, ie) rounded, each bf16_padded_k(k) wide, then zero rows up
    // to a multiple of kMr: a tile of fewer rows still loads 16 or 32.
    static const A* rows(const GemmArgs& args, int ib, int ie, std::size_t* lda) {
      const int width = bf16_padded_k(args.w->k);
      *lda = static_cast<std::size_t>(width);
      return rounded_row_block(args, ib, ie, width, (ie - ib + kMr - 1) / kMr * kMr);
    }
  };

  // The tile's sums into out (32 x 32 floats): C00 C01 / C10 C11.
  template <bool kTwoRowTiles>
  static void sums(int steps, const std::uint16_t* a, std::size_t lda, const std::uint16_t* w,
                   float (*out)[kNr]) {
    const std::size_t a_stride = lda * sizeof(std::uint16_t);
    // A pair of k of the panel's 32 columns is 128 bytes; a 16-column half of it 64.
    constexpr std::size_t kPairRow = 2 * kNr;  // bf16 values
    constexpr std::size_t kWStride = kPairRow * sizeof(std::uint16_t);
    Tiles::template zero<0>();
    Tiles::template zero<1>();
    if constexpr (kTwoRowTiles) {
      Tiles::template zero<2>();
      Tiles::template zero<3>();
    }
    for (int s = 0; s < steps; ++s) {
      const std::uint16_t* w_step = w + static_cast<std::size_t>(s) * (kBf16KStep / 2) * kPairRow;
      Tiles::template load<4>(a + s * kBf16KStep, a_stride);
      Tiles::template load<6>(w_step, kWStride);
      Tiles::template load<7>(w_step + kNr, kWStride);
      Tiles::template dpbf16ps<0, 4, 6>();
      Tiles::template dpbf16ps<1, 4, 7>();
      if constexpr (kTwoRowTiles) {
        Tiles::template load<5>(a + 16 * lda + s * kBf16KStep, a_stride);
        Tiles::template dpbf16ps<2, 5, 6>();
        Tiles::template dpbf16ps<3, 5, 7>();
      }
    }
    constexpr std::size_t kOutStride = kNr * sizeof(float);
    Tiles::template store<0>(out[0], kOutStride);
    Tiles::template store<1>(out[0] + 16, kOutStride);
    if constexpr (kTwoRowTiles) {
      Tiles::template store<2>(out[16], kOutStride);
      Tiles::template store<3>(out[16] + 16, kOutStride);
    }
  }

  // The avx512f epilogue on R rows of sums.
  template <int R>
  static void finish_rows(const float (*sums)[kNr], float* c, std::size_t ldc, const GemmTile& t,
                          const Columns& cols) {
    __m512 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) {
      acc0[r] = _mm512_load_ps(sums[r]);
      acc1[r] = _mm512_load_ps(sums[r] + 16);
    }
    avx512::finish_tile<R>(acc0, acc1, c, ldc, t, cols.m0, cols.m1);
  }

  template <int MR, bool /*kFull*/>
  static void tile(int k, const std::uint16_t* a, std::size_t lda, const std::uint16_t* w,
                   float* c, std::size_t ldc, const GemmTile& t, const Columns& cols) {
    alignas(64) float sums_buffer[kMr][kNr];
    const int steps = bf16_padded_k(k) / kBf16KStep;
    sums<(MR > 16)>(steps, a, lda, w, sums_buffer);
    // Eight rows at a time: the epilogue keeps two zmm per row.
    constexpr int kChunk = 8;
    for (int r = 0; r + kChunk <= MR; r += kChunk) {
      GemmTile rows = t;
      if (rows.residual != nullptr) rows.residual += r * t.ldr;
      finish_rows<kChunk>(sums_buffer + r, c + r * ldc, ldc, rows, cols);
    }
    if constexpr (MR % kChunk != 0) {
      constexpr int r = MR / kChunk * kChunk;
      GemmTile rows = t;
      if (rows.residual != nullptr) rows.residual += r * t.ldr;
      finish_rows<MR % kChunk>(sums_buffer + r, c + r * ldc, ldc, rows, cols);
    }
  }
};

inline void bgemm_pack(const float* w, int n, int k, const char* name, PackedWeights* out) {
  pack_bf16_group_panels_padded(w, n, k, kBf16Nr, 2, kBf16KStep, name, out);
}

template <class Tiles>
void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  static constexpr TileConfig kConfig = bf16_tile_config();
  Tiles::configure(kConfig);
  gemm_driver<Bf16MicroKernel<Tiles>>(args, row_begin, row_end, col_begin, col_end);
  Tiles::release();
}

// ---- int8 ---------------------------------------------------------------

inline constexpr int kInt8Mr = 16;
inline constexpr int kInt8Nr = x86::kQTileCols;
static_assert(kInt8Nr == 16, "a tile row of int32 sums is 16 columns");
static_assert(kQuantBlock == 32, "one block of k is one tile row of 32 bytes of A");

// tmm0, tmm1: the int32 dots of even and odd blocks (16 x 16); tmm2, tmm3:
// A (16 rows x 32 bytes); tmm4, tmm5: W (8 groups of 4 k x 16 columns).
constexpr TileConfig int8_tile_config() {
  TileConfig config;
  config.set(0, 16, 64);
  config.set(1, 16, 64);
  config.set(2, 16, kQuantBlock);
  config.set(3, 16, kQuantBlock);
  config.set(4, kQuantBlock / x86::kQGroup, 64);
  config.set(5, kQuantBlock / x86::kQGroup, 64);
  return config;
}

template <class Tiles>
struct Int8Tiles {
  static constexpr int kMr = kInt8Mr;
  static constexpr bool kWithBlockCorrections = false;

  // The exact int32 dots of block `blk` into tile C. A tile always loads 16
  // rows: the frame's quantised row block holds whole tiles of rows (its
  // row count is a multiple of kMr), and rows past t.rows are never read back.
  template <int C, int A, int W>
  static void dot_block(const QTile& t, int blk) {
    Tiles::template load<A>(t.a + static_cast<std::size_t>(blk) * kQuantBlock, t.lda);
    Tiles::template load<W>(t.panel + static_cast<std::size_t>(blk) * kQuantBlock * kInt8Nr,
                            x86::kQGroup * kInt8Nr);
    Tiles::template zero<C>();
    Tiles::template dpbssd<C, A, W>();
  }

  // The VNNI kernel's float step on one block's dots.
  template <int MR>
  static void add_block(const std::int32_t (*dots)[kInt8Nr], const QTile& t, int blk,
                        __m512 (&sum)[MR]) {
    for (int r = 0; r < MR; ++r) {
      const __m512 scale = _mm512_set1_ps(t.block_scales[r * t.ld_scales + blk]);
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(dots[r]));
      sum[r] = _mm512_fmadd_ps(dot, scale, sum[r]);
    }
  }

  template <int MR>
  static void tile_sums(const QTile& t, float (*sums)[kInt8Nr]) {
    alignas(64) std::int32_t dots[2][kInt8Mr][kInt8Nr];
    constexpr std::size_t kDotStride = kInt8Nr * sizeof(std::int32_t);
    __m512 sum[MR];
    for (int r = 0; r < MR; ++r) sum[r] = _mm512_setzero_ps();
    for (int blk = 0; blk < t.blocks; ++blk) {
      // Block blk's dot is issued, then block blk - 1's (stored last time
      // round) is added while it runs, then block blk's is stored.
      if (blk % 2 == 0) {
        dot_block<0, 2, 4>(t, blk);
      } else {
        dot_block<1, 3, 5>(t, blk);
      }
      if (blk > 0) add_block<MR>(dots[(blk - 1) % 2], t, blk - 1, sum);
      if (blk % 2 == 0) {
        Tiles::template store<0>(dots[0], kDotStride);
      } else {
        Tiles::template store<1>(dots[1], kDotStride);
      }
    }
    if (t.blocks > 0) add_block<MR>(dots[(t.blocks - 1) % 2], t, t.blocks - 1, sum);
    for (int r = 0; r < MR; ++r) _mm512_store_ps(sums[r], sum[r]);
  }
};

// The AVX2 kernel's panels as they are (tdpbssd takes signed W).
inline void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, const char* name,
                       PackedWeights* out) {
  pack_int8_panels(q, scales, n, k, kInt8Nr, x86::kQGroup, name, out);
}

template <class Tiles>
void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  static constexpr TileConfig kConfig = int8_tile_config();
  Tiles::configure(kConfig);
  x86::qgemm_on_frame<Int8Tiles<Tiles>>(args, row_begin, row_end, col_begin, col_end);
  Tiles::release();
}

}  // namespace
}  // namespace crossrank::kernels::amx_gemms
