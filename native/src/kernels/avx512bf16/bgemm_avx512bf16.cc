// bf16_gemm_8x32__avx512bf16: the bgemm contract (kernels.h) on vdpbf16ps.
//
// vdpbf16ps takes, in each 32-bit lane, a pair of bf16 from each source,
// and adds both products to the lane's fp32 accumulator: first the odd
// element's product, then the even one's, each addition rounded to nearest
// even (denormal inputs and outputs flushed to zero). The products of two
// bf16 are exact in fp32, so each lane computes exactly ref::bf16_pair_dot
// when it steps through the pairs of k in order -- one accumulator lane per
// output element, no split of k -- and the kernel tests compare the two bit
// for bit.
//
// Packing (baseline code, gemm_pack.cc): W in panels of 32 columns, each
// pair of k one 64-byte row per 16 columns, a column's two bf16 in one lane.
// A is rounded to bf16 (vcvtne2ps2bf16, round to nearest even, the
// f32_to_bf16 of kernels/bf16.h) a block of rows at a time into a
// per-thread buffer of the same pair layout, so the inner loop broadcasts
// one 32-bit pair of A per row and k step.
//
// Tile: 8 rows x 32 columns, 16 zmm accumulators, two loads of W and eight
// broadcasts per pair of k: as the fp32 avx512f kernel, with half the bytes
// of W and twice the multiply-adds per instruction.
//
// The epilogue is the fp32 avx512f kernel's (avx512/tile_epilogue.h: bias,
// GELU on each 256-bit half with the AVX2 code, residual).
//
// This file grows no std::vector (see qgemm_avx512vnni.cc): the row buffer
// is plain aligned memory.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernels/avx512/tile_epilogue.h"
#include "kernels/avx512bf16/avx512bf16_kernels.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512bf16 {
namespace {

constexpr int kMr = kBGemmMr;
constexpr int kNr = kBGemmNr;
// Rows of A rounded to bf16 at a time: at K = 1536 a block is 288 KB,
// which stays in L2 while the panels of W stream past it.
constexpr int kMc = 96;

// One growing buffer per thread for the rounded rows of A.
struct RowBuffer {
  std::uint16_t* data = nullptr;
  std::size_t capacity = 0;  // in bf16 values
  ~RowBuffer() { std::free(data); }
  std::uint16_t* get(std::size_t values) {
    if (values > capacity) {
      std::free(data);
      const std::size_t bytes = (values * sizeof(std::uint16_t) + 63) / 64 * 64;
      data = static_cast<std::uint16_t*>(std::aligned_alloc(64, bytes));
      capacity = data == nullptr ? 0 : values;
      if (data == nullptr) throw std::bad_alloc();
    }
    return data;
  }
};
thread_local RowBuffer row_buffer;

// Rounds k floats of each of rows rows of a to bf16 into out (row stride
// k_even, the pad value 0).
void round_rows(const float* a, std::size_t lda, int rows, int k, int k_even,
                std::uint16_t* out) {
  for (int r = 0; r < rows; ++r) {
    const float* src = a + r * lda;
    std::uint16_t* dst = out + static_cast<std::size_t>(r) * k_even;
    for (int p = 0; p < k_even; p += 32) {
      const int left = k - p;
      const __mmask16 lo = left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1 : 0;
      const __mmask16 hi = left >= 32 ? 0xFFFF : left > 16 ? (1u << (left - 16)) - 1 : 0;
      const __m512 v_lo = _mm512_maskz_loadu_ps(lo, src + p);
      const __m512 v_hi = _mm512_maskz_loadu_ps(hi, src + p + 16);
      const __m512bh packed = _mm512_cvtne2ps_pbh(v_hi, v_lo);
      const int out_left = k_even - p;
      const __mmask32 store = out_left >= 32 ? 0xFFFFFFFFu : (1u << out_left) - 1;
      _mm512_mask_storeu_epi16(dst + p, store, reinterpret_cast<const __m512i&>(packed));
    }
  }
}

// a: MR rows of pairs (32-bit words), row stride a_stride words.
template <int MR>
inline void ukernel(int pairs, const std::uint32_t* a, std::size_t a_stride,
                    const std::uint16_t* w, float* c, std::size_t ldc, const avx512::Tile& t,
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

}  // namespace

void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  const int k = args.w->k;
  const int k_even = k + k % 2;
  const int pairs = k_even / 2;
  const std::size_t lda = args.lda, ldc = args.ldc, ldr = args.ldr;
  const std::uint16_t* packed = args.w->bdata.data();
  std::uint16_t* rows =
      row_buffer.get(static_cast<std::size_t>(std::min(kMc, row_end - row_begin)) * k_even);

  for (int ib = row_begin; ib < row_end; ib += kMc) {
    const int ie = std::min(row_end, ib + kMc);
    round_rows(args.a + ib * lda, lda, ie - ib, k, k_even, rows);
    for (int j = col_begin; j < col_end; j += kNr) {
      const int nv = std::min(kNr, col_end - j);
      __mmask16 m0, m1;
      avx512::column_masks(nv, &m0, &m1);
      const std::uint16_t* panel = packed + static_cast<std::size_t>(j / kNr) * kNr * k_even;
      for (int i = ib; i < ie; i += kMr) {
        avx512::Tile t;
        t.epilogue = args.epilogue;
        t.bias = args.epilogue == Epilogue::kNone ? nullptr : args.bias + j;
        t.residual = args.epilogue == Epilogue::kBiasResidual ? args.residual + i * ldr + j
                                                              : nullptr;
        t.ldr = ldr;
        const auto* a = reinterpret_cast<const std::uint32_t*>(
            rows + static_cast<std::size_t>(i - ib) * k_even);
        float* c = args.c + i * ldc + j;
        switch (std::min(kMr, ie - i)) {
          case 8: ukernel<8>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          case 7: ukernel<7>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          case 6: ukernel<6>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          case 5: ukernel<5>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          case 4: ukernel<4>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          case 3: ukernel<3>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          case 2: ukernel<2>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
          default: ukernel<1>(pairs, a, pairs, panel, c, ldc, t, m0, m1); break;
        }
      }
    }
  }
}

}  // namespace crossrank::kernels::avx512bf16
