// The NEON pieces of the int8 frame (kernels/qgemm_frame.h), shared by the
// NEON (sdot-free) and the I8MM (smmla) int8 GEMMs, so that both quantise A
// with the same code and turn the same exact int32 block sums into floats
// with the same steps: their outputs agree bit for bit (qgemm_test).
//
// In an unnamed namespace: each kernel file instantiates its own copy with
// its own flags (+i8mm for one of them), never shared through the linker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::neon {
namespace {

template <int NR, int MAX_MR>
struct QFrame {
  static constexpr int kNr = NR;
  // Rows per block: the block's quantised rows stay in L2 while each panel
  // of W is streamed past them once.
  static constexpr int kMc = 96;
  static constexpr int kMaxMr = MAX_MR;
  static_assert(kMc % MAX_MR == 0, "a row block holds whole tiles");
  static void quantize_row(const float* x, int k, int kp, std::int8_t* q, float* block_scales,
                           std::int32_t* /*block_corrections: not asked for*/) {
    quantize_blocks_s8(x, k, q, block_scales);
    std::memset(q + k, 0, static_cast<std::size_t>(kp - k));
  }
  static void before_tile(const GemmArgs&, int, int, int, int) {}
  static void store_tile(const float (*sums)[kNr], const GemmArgs& args, int i, int j, int rows,
                         int nv) {
    const float* col_scales = args.w->scales.data();
    for (int r = 0; r < rows; ++r) {
      float* c = args.c + static_cast<std::size_t>(i + r) * args.ldc;
      for (int jj = 0; jj < nv; ++jj) {
        c[j + jj] = ref::apply_epilogue(args, i + r, j + jj, sums[r][jj] * col_scales[j + jj]);
      }
    }
  }
};

// The float step after each block of kQuantBlock: sum += float(exact int32
// dot of the block) * the row's block scale. One function for every NEON
// int8 kernel, so the compiler makes the same choice (fused or not) in each.
inline void add_block_sum(float* sum, std::int32_t dot, float block_scale) {
  *sum += static_cast<float>(dot) * block_scale;
}

}  // namespace
}  // namespace crossrank::kernels::neon
