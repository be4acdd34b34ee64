// Kernels built with -mavx512f -mavx512bf16 -mavx512bw -mavx512vl (plus
// AVX2+FMA for the shared GELU). Included by baseline code (dispatch.cc), so
// it declares plain functions only; call them only when cpu_features() has
// avx512_bf16, avx512bw and avx512vl, and avx2 and fma.
#pragma once

#include "kernels/kernels.h"

namespace crossrank::kernels::avx512bf16 {

inline constexpr char kBGemmName[] = "bf16_gemm_8x32__avx512bf16";
inline constexpr int kBGemmMr = 8;
inline constexpr int kBGemmNr = 32;

// Baseline code (gemm_pack.cc's pack_bf16_pair_panels with 32 columns).
void bgemm_pack(const float* w, int n, int k, PackedWeights* out);
void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);

}  // namespace crossrank::kernels::avx512bf16
