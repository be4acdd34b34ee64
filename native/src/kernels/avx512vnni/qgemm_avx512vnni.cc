// qs8_gemm_8x16__avx512vnni: the int8 GEMM of qgemm_avx2.cc (same
// quantisation of A, same tiles, same epilogue: the frame is
// x86::qgemm_tiles) with an integer loop on vpdpbusd, the AVX-512 VNNI
// instruction, on 512-bit registers.
//
// vpdpbusd multiplies 4 unsigned bytes of its first operand with the 4
// signed bytes in the same int32 lane of its second and adds the 4 products
// to the lane's int32 accumulator: one instruction for the vpmaddubsw +
// vpmaddwd + vpaddd of the AVX2 kernel, and without the int16 step.
//
// The unsigned operand is W offset by 128: w' = w + 128 (w ^ 0x80 on the
// byte), in [1, 255] for w in [-127, 127], stored so at packing time. Then
//   sum a w' = sum a w + 128 sum a,
// so each row's accumulator starts each block of 32 k at -128 x the sum of
// the row's quantised values over the block (QTile::block_corrections,
// summed by the frame as it quantises A). Offsetting W rather than A leaves
// A's bytes as they are, so they are broadcast straight from memory: the
// inner loop is one load of W per group of 4 k and then, per row, a
// broadcast load and the vpdpbusd (A carrying the offset needed an xor with
// 0x80 per row and group too).
//
// Why this is exact: each product a w' is at most 127 x 255 = 32385 in
// magnitude, and vpdpbusd adds the four of a lane to the int32 accumulator
// in full precision (it is the non-saturating form; nothing passes through
// int16 as in vpmaddubsw). Over a block of 32 k the accumulator holds at
// most 32 x 32385 = 1036320 and the starting value 128 x 32 x 127 = 520192
// in magnitude, far from 2^31; so it ends at the exact int32 dot of the
// block, the same integer the AVX2 and reference kernels compute. The zero
// padding of A's k adds a = 0 times w'. From there on each float step is the
// AVX2 kernel's, lane for lane (one fused multiply-add per block into the
// tile's sums, in block order, then the shared epilogue), so the outputs are
// bit for bit the same.
//
// Tile: 8 rows x 16 columns, one zmm accumulator per row (16 int32 lanes,
// one per column): enough independent chains to cover vpdpbusd's latency.
// The tile's float sums stay in 8 more zmm registers across the blocks (the
// AVX2 kernel, with 16 registers, keeps them in memory). The AVX2 kernel's
// column panels fit as they are: a group of 4 k of the panel's 16 columns is
// 64 contiguous bytes, one zmm load.
//
// Why zmm and not ymm (the AVX512VL form): on this Zen 4 EPYC a loop of
// independent vpdpbusd measured about 430-450 GOPS on zmm against 300-430
// on ymm, and the same kernel on ymm (2 x 8 accumulators) ran the MiniLM
// GEMMs 10-25 % slower, in alternating runs of gemm_bench --int8.
//
// Packing: the AVX2 kernel's column panels (for each group of 4 k, the 16
// columns' 4 bytes side by side), each byte offset by 128.
//
// This file grows no std::vector (its packing asks pack_int8_panels
// for the bytes): an out-of-line library template instantiated here would be
// built with AVX-512 flags, and the linker may keep that copy for every
// caller, baseline code included.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_pack.h"
#include "kernels/ops.h"
#include "kernels/x86/qgemm_frame.h"

// GCC 12 warns "'__Y' may be used uninitialized" inside most 512-bit
// intrinsics (their _mm512_undefined_* operand; GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512vnni {
namespace {

constexpr int kNr = kQGemmNr;
constexpr int kGroup = x86::kQGroup;  // k values per int32 lane per step
constexpr int kBlock = kQuantBlock;


template <int MR>
void tile_sums(const QTile& t, float (*sums)[kNr]) {
  constexpr int kGroups = kBlock / kGroup;
  const std::int8_t* w = t.panel;
  const std::int8_t* a = t.a;
  const std::size_t lda = t.lda;
  __m512 sum[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) sum[r] = _mm512_setzero_ps();
  for (int blk = 0; blk < t.blocks; ++blk, a += kBlock, w += kBlock * kNr) {
    __m512i acc[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_set1_epi32(t.block_corrections[r * t.ld_scales + blk]);
#pragma GCC unroll 8
    for (int g = 0; g < kGroups; ++g) {
      const __m512i b = _mm512_loadu_si512(w + g * kGroup * kNr);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        std::int32_t four;
        std::memcpy(&four, a + r * lda + g * kGroup, sizeof four);
        acc[r] = _mm512_dpbusd_epi32(acc[r], b, _mm512_set1_epi32(four));
      }
    }
    // add_block_sums' step on all 16 lanes at once: the same fused
    // multiply-add per lane, so the same floats.
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 scale = _mm512_set1_ps(t.block_scales[r * t.ld_scales + blk]);
      sum[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), scale, sum[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) _mm512_store_ps(sums[r], sum[r]);
}

// The integer loop as the frame calls it (tile_sums_of_rows picks MR).
struct Tiles {
  static constexpr int kMr = kQGemmMr;
  static constexpr bool kWithBlockCorrections = true;
  template <int MR>
  static void tile_sums(const QTile& t, float (*sums)[kNr]) {
    avx512vnni::tile_sums<MR>(t, sums);
  }
};

}  // namespace

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  pack_int8_panels(q, scales, n, k, kNr, x86::kQGroup, kQGemmName, out);
  // Padding bytes become 128 too: they meet A's zero padding (or columns
  // past n, which are never stored).
  std::int8_t* bytes = out->qdata.data();
  const std::size_t count = int8_panel_bytes(n, k, kNr);
  for (std::size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::int8_t>(bytes[i] ^ 0x80);
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  x86::qgemm_on_frame<Tiles>(args, row_begin, row_end, col_begin, col_end);
}

}  // namespace crossrank::kernels::avx512vnni
