// qs8_gemm_4x4__neon: c = epilogue(dequantise(quantise(a) . Wq^T)), with
// W int8 per output channel and each row of A quantised here in blocks of
// kQuantBlock = 32 columns by quantize_blocks_s8 (see kernels.h).
//
// Packing: Wq ([n][k] int8) becomes ceil(n/4) column panels; in a panel,
// each chunk of 16 k values holds the 4 columns' 16 bytes one after the
// other. k is zero-padded to a multiple of 32, the tail panel's missing
// columns are zero. Quantised rows of A are padded the same way.
//
// Micro-kernel: 4 rows x 4 columns, one int32x4 accumulator per output.
// Per 16 k values, vmull_s8 multiplies the low 8 bytes of a row and a
// column into int16, vmlal_high_s8 adds the high 8 bytes' products, and
// vpadalq_s16 adds adjacent int16 pairs into the int32 lanes. Exact: both
// operands are in [-127, 127] (never -128), so each int16 lane holds at
// most 2 * 127 * 127 = 32258 < 32767, and the int32 sums reach 127 * 127 * 32
// per block. After each block of 32 k (two chunks) the four lanes are added
// and the sum, times the row's block scale, goes into a float accumulator.
//
// The epilogue runs on the scalar reference's code (ref::apply_epilogue),
// on the 16 outputs of a tile: it is a small share of the work next to k.
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::neon {
namespace {

constexpr int kMr = kQGemmMr;
constexpr int kNr = kQGemmNr;
constexpr int kChunk = 16;  // k values per int8x16 load
constexpr int kBlock = kQuantBlock;
// Rows per block: the block's quantised rows stay in L2 while each panel
// of W is streamed past them once.
constexpr int kMc = 96;

int padded_k(int k) { return (k + kBlock - 1) / kBlock * kBlock; }

// sums[r][j] = sum over blocks of float(dot of the block) * block scale.
template <int MR>
inline void ukernel(int blocks, const std::int8_t* a, std::size_t lda, const float* block_scales,
                    const std::int8_t* w, float (&sums)[kMr][kNr]) {
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < kNr; ++j) sums[r][j] = 0.f;
  for (int blk = 0; blk < blocks; ++blk) {
    int32x4_t acc[MR][kNr];
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] = vdupq_n_s32(0);
    for (int ch = blk * (kBlock / kChunk); ch < (blk + 1) * (kBlock / kChunk); ++ch) {
      int8x16_t b[kNr];
      for (int j = 0; j < kNr; ++j) b[j] = vld1q_s8(w + j * kChunk);
      w += kNr * kChunk;
      for (int r = 0; r < MR; ++r) {
        const int8x16_t ar = vld1q_s8(a + r * lda + ch * kChunk);
        for (int j = 0; j < kNr; ++j) {
          int16x8_t products = vmull_s8(vget_low_s8(ar), vget_low_s8(b[j]));
          products = vmlal_high_s8(products, ar, b[j]);
          acc[r][j] = vpadalq_s16(acc[r][j], products);
        }
      }
    }
    for (int r = 0; r < MR; ++r) {
      const float scale = block_scales[r * blocks + blk];
      for (int j = 0; j < kNr; ++j)
        sums[r][j] += static_cast<float>(vaddvq_s32(acc[r][j])) * scale;
    }
  }
}

}  // namespace

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  const int kp = padded_k(k);
  const int panels = (n + kNr - 1) / kNr;
  out->n = n;
  out->k = k;
  out->data.clear();
  out->packed_for = kQGemmName;
  out->scales.assign(scales, scales + n);
  out->qdata.assign(static_cast<std::size_t>(panels) * kNr * kp, 0);
  for (int j = 0; j < n; ++j) {
    std::int8_t* panel = out->qdata.data() + static_cast<std::size_t>(j / kNr) * kNr * kp;
    const std::int8_t* row = q + static_cast<std::size_t>(j) * k;
    for (int p = 0; p < k; ++p) {
      panel[static_cast<std::size_t>(p / kChunk) * kChunk * kNr + (j % kNr) * kChunk +
            p % kChunk] = row[p];
    }
  }
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  const int k = args.w->k;
  const int kp = padded_k(k);
  const std::int8_t* packed = args.w->qdata.data();
  const float* col_scales = args.w->scales.data();
  const int blocks = kp / kBlock;
  // Per pool thread, reused across calls: a block of quantised rows (zero
  // past k) and their block scales.
  thread_local std::vector<std::int8_t> qa;
  thread_local std::vector<float> block_scales;
  qa.assign(static_cast<std::size_t>(kMc) * kp, 0);
  block_scales.resize(static_cast<std::size_t>(kMc) * blocks);

  for (int ib = row_begin; ib < row_end; ib += kMc) {
    const int ie = std::min(row_end, ib + kMc);
    for (int i = ib; i < ie; ++i) {
      quantize_blocks_s8(args.a + static_cast<std::size_t>(i) * args.lda, k,
                         qa.data() + static_cast<std::size_t>(i - ib) * kp,
                         block_scales.data() + static_cast<std::size_t>(i - ib) * blocks);
    }
    for (int j = col_begin; j < col_end; j += kNr) {
      const int nv = std::min(kNr, col_end - j);
      const std::int8_t* panel = packed + static_cast<std::size_t>(j / kNr) * kNr * kp;
      for (int i = ib; i < ie; i += kMr) {
        const int mv = std::min(kMr, ie - i);
        const std::int8_t* a = qa.data() + static_cast<std::size_t>(i - ib) * kp;
        const float* scales = block_scales.data() + static_cast<std::size_t>(i - ib) * blocks;
        float sums[kMr][kNr];
        switch (mv) {
          case 4: ukernel<4>(blocks, a, kp, scales, panel, sums); break;
          case 3: ukernel<3>(blocks, a, kp, scales, panel, sums); break;
          case 2: ukernel<2>(blocks, a, kp, scales, panel, sums); break;
          default: ukernel<1>(blocks, a, kp, scales, panel, sums); break;
        }
        for (int r = 0; r < mv; ++r) {
          float* c = args.c + static_cast<std::size_t>(i + r) * args.ldc;
          for (int jj = 0; jj < nv; ++jj) {
            c[j + jj] = ref::apply_epilogue(args, i + r, j + jj, sums[r][jj] * col_scales[j + jj]);
          }
        }
      }
    }
  }
}

}  // namespace crossrank::kernels::neon
