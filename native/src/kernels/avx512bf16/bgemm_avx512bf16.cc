// bf16_gemm_8x32__avx512bf16: the bgemm contract (kernels.h) on vdpbf16ps,
// as a micro-kernel of the one GEMM driver (kernels/gemm_driver.h).
//
// vdpbf16ps takes, in each 32-bit lane, a pair of bf16 from each source,
// and adds both products to the lane's fp32 accumulator: first the odd
// element's product, then the even one's, each addition rounded to nearest
// even (denormal inputs and outputs flushed to zero). The products of two
// bf16 are exact in fp32, so each lane computes exactly ref::bf16_pair_dot
// when it steps through the pairs of k in order -- one accumulator lane per
// output element, no split of k -- and bgemm_test compares the two bit for
// bit (with the even element first the test fails: that is how the order
// was established on Zen 4).
//
// Packing (baseline code, gemm_pack.cc's pack_bf16_pair_panels): W in panels
// of 32 columns, each pair of k one 64-byte row per 16 columns, a column's
// two bf16 in one lane. A is rounded to bf16 (vcvtne2ps2bf16, round to
// nearest even: kernels/bf16.h's f32_to_bf16) a row block at a time into a
// per-thread buffer of the same pair layout (Operands::rows, which the
// driver calls once per block), so the inner loop broadcasts one 32-bit pair
// of A per row and k step.
//
// Tile: 8 rows x 32 columns, 16 zmm accumulators, two loads of W and eight
// broadcasts per pair of k: the fp32 avx512f kernel's shape, with half the
// bytes of W and twice the multiply-adds per instruction. The epilogue is
// that kernel's (avx512/tile_epilogue.h).
//
// This file grows no std::vector (see qgemm_avx512vnni.cc): the row buffer
// is plain aligned memory.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/tile_epilogue.h"
#include "kernels/avx512bf16/bf16_rows.h"
#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/ops.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512bf16 {
namespace {

constexpr int kNr = kBGemmNr;
// Rows of A rounded to bf16 at a time: at K = 1536 a block is 288 KB,
// which stays in L2 while the panels of W stream past it.
constexpr int kMc = 96;

// a: MR rows of pairs (32-bit words), row stride a_stride words.
template <int MR>
inline void ukernel(int pairs, const std::uint32_t* a, std::size_t a_stride,
                    const std::uint16_t* w, float* c, std::size_t ldc, const GemmTile& t,
                    __mmask16 m0, __mmask16 m1) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNr - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 2
  for (int q = 0; q < pairs; ++q) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + 32));
    w += 2 * kNr;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh ar = reinterpret_cast<__m512bh>(
          _mm512_set1_epi32(static_cast<int>(a[r * a_stride + q])));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
    }
  }
  avx512::finish_tile<MR>(acc0, acc1, c, ldc, t, m0, m1);
}

// The micro-kernel as the GEMM driver (kernels/gemm_driver.h) calls it.
struct MicroKernel : avx512::MaskedColumns {
  static constexpr int kMr = kBGemmMr;
  static constexpr int kNr = kBGemmNr;
  static int row_block(int /*k*/) { return kMc; }
  struct Operands {
    using A = std::uint32_t;  // a pair of bf16 of one row
    using W = std::uint16_t;
    static const W* panels(const PackedWeights& w) { return w.bdata.data(); }
    static std::size_t panel_depth(int k) { return static_cast<std::size_t>(k + k % 2); }
    static const A* rows(const GemmArgs& args, int ib, int ie, std::size_t* lda) {
      const int k_even = args.w->k + args.w->k % 2;
      *lda = static_cast<std::size_t>(k_even / 2);
      return reinterpret_cast<const A*>(rounded_row_block(args, ib, ie, k_even, ie - ib));
    }
  };
  template <int MR, bool /*kFull*/>
  static void tile(int k, const Operands::A* a, std::size_t lda, const Operands::W* w, float* c,
                   std::size_t ldc, const GemmTile& t, const Columns& cols) {
    ukernel<MR>((k + 1) / 2, a, lda, w, c, ldc, t, cols.m0, cols.m1);
  }
};

}  // namespace

void bgemm_pack(const float* w, int n, int k, PackedWeights* out) {
  pack_bf16_pair_panels(w, n, k, kNr, kBGemmName, out);
}

void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  gemm_driver<MicroKernel>(args, row_begin, row_end, col_begin, col_end);
}

}  // namespace crossrank::kernels::avx512bf16
