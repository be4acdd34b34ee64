// qs8_gemm_8x16__avx512vnni: the int8 GEMM of qgemm_avx2.cc (same
// quantisation of A, same tiles, same epilogue: the frame is
// avx2::qgemm_tiles) with an integer loop on vpdpbusd, the AVX-512 VNNI
// instruction, on 512-bit registers.
//
// vpdpbusd multiplies 4 unsigned bytes of its first operand with the 4
// signed bytes in the same int32 lane of its second and adds the 4 products
// to the lane's int32 accumulator: one instruction for the vpmaddubsw +
// vpmaddwd + vpaddd of the AVX2 kernel, and without the int16 step.
//
// The unsigned operand is A offset by 128: a' = a + 128 (a ^ 0x80 on the
// byte), in [1, 255] for a in [-127, 127]. Then
//   sum a' w = sum a w + 128 sum w,
// so after each block of 32 k the kernel subtracts 128 x the column's sum of
// w over the block, computed once at packing time.
//
// Why this is exact: each product a' w is at most 255 x 127 = 32385 in
// magnitude, and vpdpbusd adds the four of a lane to the int32 accumulator
// in full precision (it is the non-saturating form; nothing passes through
// int16 as in vpmaddubsw). Over a block of 32 k the accumulator holds at
// most 32 x 32385 = 1036320 and the correction 128 x 32 x 127 = 520192 in
// magnitude, far from 2^31; so acc - correction is the exact int32 dot of
// the block, the same integer the AVX2 and reference kernels compute. The
// zero padding of k adds a' = 128 times w = 0. From there on the float steps
// are those of the AVX2 kernel (one fused multiply-add per block into the
// tile's sums, then its epilogue), so the outputs are bit for bit the same.
//
// Tile: 8 rows x 16 columns, one zmm accumulator per row (16 int32 lanes,
// one per column): enough independent chains to cover vpdpbusd's latency.
// The AVX2 kernel's column panels fit as they are: a group of 4 k of the
// panel's 16 columns is 64 contiguous bytes, one zmm load. At the end of a
// block each accumulator is split into its two ymm halves for the shared
// float step (qgemm_block_sums.h).
//
// Why zmm and not ymm (the AVX512VL form): on this Zen 4 EPYC a loop of
// independent vpdpbusd measured about 430-450 GOPS on zmm against 300-430
// on ymm, and the same kernel on ymm (2 x 8 accumulators) ran the MiniLM
// GEMMs 10-25 % slower, in alternating runs of gemm_bench --int8.
//
// Packing: the AVX2 kernel's column panels (for each group of 4 k, the 16
// columns' 4 bytes side by side), then, for each panel and block of 32 k,
// 16 int32: 128 x the sum of each column's w over the block.
//
// This file grows no std::vector (its packing asks avx2::qgemm_pack_panels
// for the bytes): an out-of-line library template instantiated here would be
// built with AVX-512 flags, and the linker may keep that copy for every
// caller, baseline code included.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/qgemm_block_sums.h"
#include "kernels/avx512vnni/avx512vnni_kernels.h"

// GCC 12 warns "'__Y' may be used uninitialized" inside most 512-bit
// intrinsics (their _mm512_undefined_* operand; GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512vnni {
namespace {

constexpr int kMr = kQGemmMr;
constexpr int kNr = kQGemmNr;
constexpr int kGroup = 4;  // k values per int32 lane per step
constexpr int kBlock = kQuantBlock;
static_assert(kNr == avx2::kQGemmNr, "the frame's tiles are 16 columns wide");
static_assert(kMr <= avx2::kQGemmMaxMr, "the frame holds sums for at most kQGemmMaxMr rows");

int padded_k(int k) { return (k + kBlock - 1) / kBlock * kBlock; }

template <int MR>
void tile_sums(const avx2::QTile& t, float (*sums)[kNr]) {
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
  const std::int8_t* w = t.panel;
  const std::int8_t* corrections =
      t.w->qdata.data() + avx2::qgemm_panel_bytes(t.w->n, t.w->k) +
      static_cast<std::size_t>(t.panel_index) * t.blocks * kNr * sizeof(std::int32_t);
  for (int blk = 0; blk < t.blocks; ++blk) {
    __m512i acc[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int g = blk * (kBlock / kGroup); g < (blk + 1) * (kBlock / kGroup); ++g) {
      const __m512i b = _mm512_loadu_si512(w);
      w += kGroup * kNr;
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        std::int32_t four;
        std::memcpy(&four, t.a + r * t.lda + g * kGroup, sizeof four);
        const __m512i ar = _mm512_xor_si512(_mm512_set1_epi32(four), offset);
        acc[r] = _mm512_dpbusd_epi32(acc[r], ar, b);
      }
    }
    const __m512i c = _mm512_loadu_si512(corrections);
    corrections += kNr * sizeof(std::int32_t);
    __m256i dot0[MR], dot1[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i dot = _mm512_sub_epi32(acc[r], c);
      dot0[r] = _mm512_castsi512_si256(dot);
      dot1[r] = _mm512_extracti64x4_epi64(dot, 1);
    }
    avx2::add_block_sums<MR>(t, blk, dot0, dot1, sums);
  }
}

void tile_sums_any_rows(const avx2::QTile& t, float (*sums)[kNr]) {
  switch (t.rows) {
    case 8: tile_sums<8>(t, sums); break;
    case 7: tile_sums<7>(t, sums); break;
    case 6: tile_sums<6>(t, sums); break;
    case 5: tile_sums<5>(t, sums); break;
    case 4: tile_sums<4>(t, sums); break;
    case 3: tile_sums<3>(t, sums); break;
    case 2: tile_sums<2>(t, sums); break;
    default: tile_sums<1>(t, sums); break;
  }
}

}  // namespace

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  const int kp = padded_k(k);
  const int blocks = kp / kBlock;
  const int panels = (n + kNr - 1) / kNr;
  // Columns past n (the tail panel's) keep a correction of 0.
  avx2::qgemm_pack_panels(q, scales, n, k, kQGemmName,
                          static_cast<std::size_t>(panels) * blocks * kNr * sizeof(std::int32_t),
                          out);
  std::int8_t* corrections = out->qdata.data() + avx2::qgemm_panel_bytes(n, k);
  for (int j = 0; j < n; ++j) {
    const std::int8_t* row = q + static_cast<std::size_t>(j) * k;
    for (int b = 0; b < blocks; ++b) {
      std::int32_t sum = 0;
      for (int p = b * kBlock; p < k && p < (b + 1) * kBlock; ++p) sum += row[p];
      const std::int32_t correction = 128 * sum;
      std::memcpy(corrections + ((static_cast<std::size_t>(j / kNr) * blocks + b) * kNr + j % kNr) *
                                    sizeof correction,
                  &correction, sizeof correction);
    }
  }
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  avx2::qgemm_tiles(args, row_begin, row_end, col_begin, col_end, kMr, tile_sums_any_rows);
}

}  // namespace crossrank::kernels::avx512vnni
