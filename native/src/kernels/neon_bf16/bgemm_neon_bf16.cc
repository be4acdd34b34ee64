// bf16_gemm_8x8__neon_bf16: the bgemm contract (kernels.h) on the Arm BF16
// matrix multiply-accumulate, bfmmla (Neoverse V1/V2, Graviton 3/4), as a
// micro-kernel of the one GEMM driver (kernels/gemm_driver.h).
//
// bfmmla multiplies a 2x4 matrix of bf16 (two rows of A, 4 k each, one q
// register) by a 4x2 one (two columns of W) and adds into a 2x2 fp32
// accumulator [r0c0, r0c1, r1c0, r1c1]. Each element steps through its two
// pairs of k in order, as BFDOT does (the Arm ARM's BFDotAdd with FPCR.EBF
// = 0, what Linux leaves set): the pair's two products (exact in fp32),
// their sum rounded to odd, then that added to the accumulator, rounded to
// odd; subnormal results flushed to zero, whatever FPCR says. That is not
// vdpbf16ps's rounding, so this kernel has its own reference,
// ref::bgemm_round_odd, which bgemm_test compares it with bit for bit (with
// round-to-nearest-even sums the comparison fails on most outputs).
//
// Packing (baseline code, gemm_pack.cc's pack_bf16_group_panels, groups of
// 4): W in panels of 8 columns, k zero-padded to a multiple of 4; per 4 k,
// the 8 columns' 4 bf16 one after the other, so columns (2c, 2c+1) are one
// 16-byte operand. A is rounded to bf16 (kernels/bf16.h's f32_to_bf16, the
// reference's rounding; BFCVT would keep subnormals) a row block at a time
// into a per-thread buffer where each pair of rows is interleaved by 4 k:
// one 16-byte load per row pair and 4 k.
//
// Tile: 8 rows x 8 columns = 4 x 4 accumulators of 2x2 (16 q registers),
// 4 loads of A and 4 of W per 4 k for 16 bfmmla. The epilogue is the fp32
// NEON GEMM's (neon/tile_epilogue.h).
#include <arm_neon.h>

#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernels/bf16.h"
#include "kernels/gemm_driver.h"
#include "kernels/gemm_pack.h"
#include "kernels/neon/tile_epilogue.h"
#include "kernels/ops.h"
#include "kernels/row_buffer.h"

namespace crossrank::kernels::neon_bf16 {
namespace {

constexpr int kMr = kBGemmMr;
constexpr int kNr = kBGemmNr;
constexpr int kGroup = 4;  // k values per bfmmla
constexpr int kColPairs = kNr / 2;
// Rows of A rounded at a time (a multiple of kMr): at K = 1536 a block is
// 288 KB, within a Neoverse V1/V2 L2 while the panels of W stream past.
constexpr int kMc = 96;
static_assert(kMc % kMr == 0 && kMr % 2 == 0 && kNr == 8, "whole row pairs, 8-wide epilogue");

int padded_k(int k) { return (k + kGroup - 1) / kGroup * kGroup; }

// One growing buffer per thread for the rounded rows of A (kernels/row_buffer.h).
thread_local RowBuffer row_buffer;

// Rounds rows [0, rows) of a to bf16 into out, row pairs interleaved by
// groups of 4 k (pair p, group g at p * 2 * kp + 8 g: 4 values of row 2p,
// then 4 of row 2p + 1); k padded to kp and an odd last row's partner with
// zeros.
void round_rows(const float* a, std::size_t lda, int rows, int k, int kp, std::uint16_t* out) {
  const int pairs = (rows + 1) / 2;
  for (int r = 0; r < 2 * pairs; ++r) {
    std::uint16_t* dst = out + static_cast<std::size_t>(r / 2) * 2 * kp + (r % 2) * kGroup;
    const float* src = a + static_cast<std::size_t>(r) * lda;
    for (int p = 0; p < kp; ++p)
      dst[(p / kGroup) * 2 * kGroup + p % kGroup] =
          r < rows && p < k ? f32_to_bf16(src[p]) : std::uint16_t{0};
  }
}

inline bfloat16x8_t load_bf16x8(const std::uint16_t* p) {
  return vld1q_bf16(reinterpret_cast<const bfloat16_t*>(p));
}

// a: row pairs of the layout above, row stride lda (so pair stride 2 lda).
template <int MR, bool kFull>
inline void ukernel(int groups, const std::uint16_t* a, std::size_t lda, const std::uint16_t* w,
                    float* c, std::size_t ldc, const GemmTile& t, int nv) {
  constexpr int kRowPairs = (MR + 1) / 2;
  float32x4_t acc[kRowPairs][kColPairs];
#pragma GCC unroll 4
  for (int rp = 0; rp < kRowPairs; ++rp)
#pragma GCC unroll 4
    for (int cp = 0; cp < kColPairs; ++cp) acc[rp][cp] = vdupq_n_f32(0.f);

  for (int g = 0; g < groups; ++g, w += kNr * kGroup) {
    bfloat16x8_t b[kColPairs];
#pragma GCC unroll 4
    for (int cp = 0; cp < kColPairs; ++cp) b[cp] = load_bf16x8(w + cp * 2 * kGroup);
#pragma GCC unroll 4
    for (int rp = 0; rp < kRowPairs; ++rp) {
      const bfloat16x8_t ar = load_bf16x8(a + rp * 2 * lda + g * 2 * kGroup);
#pragma GCC unroll 4
      for (int cp = 0; cp < kColPairs; ++cp) acc[rp][cp] = vbfmmlaq_f32(acc[rp][cp], ar, b[cp]);
    }
  }

  // Row 2rp is the low halves of its pair's accumulators, row 2rp + 1 the
  // high halves.
  float tile[MR][kNr];
#pragma GCC unroll 4
  for (int rp = 0; rp < kRowPairs; ++rp) {
    vst1q_f32(tile[2 * rp], vcombine_f32(vget_low_f32(acc[rp][0]), vget_low_f32(acc[rp][1])));
    vst1q_f32(tile[2 * rp] + 4,
              vcombine_f32(vget_low_f32(acc[rp][2]), vget_low_f32(acc[rp][3])));
    if (2 * rp + 1 < MR) {
      vst1q_f32(tile[2 * rp + 1],
                vcombine_f32(vget_high_f32(acc[rp][0]), vget_high_f32(acc[rp][1])));
      vst1q_f32(tile[2 * rp + 1] + 4,
                vcombine_f32(vget_high_f32(acc[rp][2]), vget_high_f32(acc[rp][3])));
    }
  }
  neon::finish_tile<MR, kFull>(tile, c, ldc, t, nv);
}

// The micro-kernel as the GEMM driver (kernels/gemm_driver.h) calls it.
struct MicroKernel : CountsColumns {
  static constexpr int kMr = neon_bf16::kMr;
  static constexpr int kNr = neon_bf16::kNr;
  static int row_block(int /*k*/) { return kMc; }
  struct Operands {
    using A = std::uint16_t;
    using W = std::uint16_t;
    static const W* panels(const PackedWeights& w) { return w.bdata.data(); }
    static std::size_t panel_depth(int k) { return static_cast<std::size_t>(padded_k(k)); }
    static const A* rows(const GemmArgs& args, int ib, int ie, std::size_t* lda) {
      const int k = args.w->k;
      const int kp = padded_k(k);
      const int pairs = (ie - ib + 1) / 2;
      std::uint16_t* out = row_buffer.get(static_cast<std::size_t>(pairs) * 2 * kp);
      round_rows(args.a + static_cast<std::size_t>(ib) * args.lda, args.lda, ie - ib, k, kp, out);
      *lda = static_cast<std::size_t>(kp);
      return out;
    }
  };
  template <int MR, bool kFull>
  static void tile(int k, const std::uint16_t* a, std::size_t lda, const std::uint16_t* w,
                   float* c, std::size_t ldc, const GemmTile& t, int nv) {
    ukernel<MR, kFull>(padded_k(k) / kGroup, a, lda, w, c, ldc, t, nv);
  }
};

}  // namespace

void bgemm_pack(const float* w, int n, int k, PackedWeights* out) {
  pack_bf16_group_panels(w, n, k, kNr, kGroup, kBGemmName, out);
}

void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  gemm_driver<MicroKernel>(args, row_begin, row_end, col_begin, col_end);
}

}  // namespace crossrank::kernels::neon_bf16
