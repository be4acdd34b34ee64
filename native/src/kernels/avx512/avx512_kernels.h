// Kernels built with -mavx512f (plus the AVX2 table's -mavx2 -mfma -mf16c,
// whose vector math they reuse). Declarations only, for baseline code
// (dispatch.cc); call them only when cpu_features() has avx512f.
#pragma once

#include "kernels/kernels.h"

namespace crossrank::kernels::avx512 {

inline constexpr char kGemmName[] = "f32_gemm_8x32__avx512f";
inline constexpr int kGemmMr = 8;
inline constexpr int kGemmNr = 32;

void gemm_pack(const float* w, int n, int k, PackedWeights* out);
void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
// Bit for bit the AVX2 attention's outputs (see attention_avx512.cc).
void attention(const AttentionArgs& args);
void attention_heads(const AttentionArgs& args, int head_begin, int head_end);

}  // namespace crossrank::kernels::avx512
