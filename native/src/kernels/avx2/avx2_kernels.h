// Kernels built with -mavx2 -mfma -mf16c (see kernels.h for each contract).
// This header is included by baseline code (dispatch.cc), so it declares
// plain functions only; call them only when cpu_features() has avx2 and fma.
#pragma once

#include <cstddef>

#include "kernels/kernels.h"

namespace crossrank::kernels::avx2 {

inline constexpr char kGemmName[] = "f32_gemm_6x16__avx2_fma";
inline constexpr int kGemmMr = 6;
inline constexpr int kGemmNr = 16;
inline constexpr char kQGemmName[] = "qs8_gemm_4x16__avx2";
inline constexpr int kQGemmMr = 4;
inline constexpr int kQGemmNr = 16;

void gemm_pack(const float* w, int n, int k, PackedWeights* out);
void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out);
void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out);
void gelu_erf(float* x, std::size_t count);
void tanh(float* x, std::size_t count);
void attention(const AttentionArgs& args);
void attention_heads(const AttentionArgs& args, int head_begin, int head_end);

}  // namespace crossrank::kernels::avx2
