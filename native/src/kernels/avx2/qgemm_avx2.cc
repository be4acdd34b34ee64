// qs8_gemm_4x16__avx2: c = epilogue(dequantise(quantise(a) . Wq^T)), with
// W int8 per output channel and each row of A quantised here in blocks of
// kQuantBlock = 32 columns (symmetric int8, see quantize_blocks_s8 in
// kernels.h).
//
// Packing and quantising A: the x86 int8 frame's (x86/qgemm_frame.cc); a
// group of 4 k of a panel's 16 columns is 64 bytes, one ymm for columns 0-7
// and one for 8-15.
//
// Micro-kernel: 4 rows x 16 columns in 8 ymm int32 accumulators. Per group
// of 4 k, the 4 bytes of a row are broadcast and multiplied with both
// column vectors by vpmaddubsw, which needs an unsigned first operand: it
// gets |a| (vpsignb a, a) and b takes a's sign (vpsignb b, a), so that
// |a| * (b * sign a) = a * b. vpmaddubsw adds adjacent pairs of these
// products into int16, saturating; vpmaddwd by ones then adds adjacent
// int16 pairs into int32, so each int32 lane gains the dot product of its
// column with the row over the 4 k values.
//
// Why this is exact: every a and b is in [-127, 127] (quantize_row_s8 and
// the weight quantiser never produce -128), so |a| <= 127 and
// |b * sign a| <= 127; a pair sum in vpmaddubsw is at most 2 * 127 * 127 =
// 32258 < 32767 in magnitude and never saturates. vpmaddwd of two such
// int16 sums is at most 64516 and the int32 accumulator holds at most
// 127 * 127 * 32 per block. (-128 would break this: |-128| does not fit
// vpsignb's int8 result, and 2 * 128 * 127 exceeds int16.)
//
// After each block of 32 k, the int32 sums are converted to float, times
// the row's block scale, into the tile's float sums; the frame
// (x86/qgemm_frame.cc: quantising A, walking the tiles, the epilogue) does
// the rest, and the AVX-512 VNNI kernel runs on it too.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemm_pack.h"
#include "kernels/ops.h"
#include "kernels/x86/qgemm_block_sums.h"
#include "kernels/x86/qgemm_frame.h"

namespace crossrank::kernels::avx2 {
namespace {

constexpr int kNr = kQGemmNr;
constexpr int kGroup = x86::kQGroup;  // k values per int32 lane per step
constexpr int kBlock = kQuantBlock;

// The AVX2 integer loop: per group of 4 k, the 4 bytes of a row are
// broadcast and multiplied with both column vectors by vpmaddubsw (see the
// comment at the top for the sign trick and why it is exact).
template <int MR>
void tile_sums(const QTile& t, float (*sums)[kNr]) {
  const __m256i ones = _mm256_set1_epi16(1);
  const std::int8_t* w = t.panel;
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(sums[r], _mm256_setzero_ps());
    _mm256_store_ps(sums[r] + 8, _mm256_setzero_ps());
  }
  for (int blk = 0; blk < t.blocks; ++blk) {
    __m256i acc0[MR], acc1[MR];
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int g = blk * (kBlock / kGroup); g < (blk + 1) * (kBlock / kGroup); ++g) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
      w += kGroup * kNr;
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        std::int32_t four;
        std::memcpy(&four, t.a + r * t.lda + g * kGroup, sizeof four);
        const __m256i ar = _mm256_set1_epi32(four);
        const __m256i ar_abs = _mm256_sign_epi8(ar, ar);
        acc0[r] = _mm256_add_epi32(
            acc0[r], _mm256_madd_epi16(_mm256_maddubs_epi16(ar_abs, _mm256_sign_epi8(b0, ar)), ones));
        acc1[r] = _mm256_add_epi32(
            acc1[r], _mm256_madd_epi16(_mm256_maddubs_epi16(ar_abs, _mm256_sign_epi8(b1, ar)), ones));
      }
    }
    x86::add_block_sums<MR>(t, blk, acc0, acc1, sums);
  }
}

// The integer loop as the frame calls it (tile_sums_of_rows picks MR).
struct Tiles {
  static constexpr int kMr = kQGemmMr;
  static constexpr bool kWithBlockCorrections = false;
  template <int MR>
  static void tile_sums(const QTile& t, float (*sums)[kNr]) {
    avx2::tile_sums<MR>(t, sums);
  }
};

}  // namespace

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  pack_int8_panels(q, scales, n, k, kNr, x86::kQGroup, kQGemmName, out);
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  x86::qgemm_on_frame<Tiles>(args, row_begin, row_end, col_begin, col_end);
}

}  // namespace crossrank::kernels::avx2
