// The scalar reference kernels (see kernels.h for the contract of each op).
// Written for clarity; every faster kernel is tested against these.
#pragma once

#include <cstddef>

#include "kernels/kernels.h"

namespace crossrank::kernels::ref {

inline constexpr char kGemmName[] = "f32_gemm_1x4__ref";
inline constexpr int kGemmMr = 1;
inline constexpr int kGemmNr = 4;

inline constexpr char kQGemmName[] = "qs8_gemm_1x1__ref";
inline constexpr int kQGemmMr = 1;
inline constexpr int kQGemmNr = 1;

// Shared by the reference GELU op and the reference GEMM epilogue.
float gelu_erf_scalar(float x);
// The epilogue of args applied to the dot product v of output (row, col);
// shared by the scalar GEMMs.
float apply_epilogue(const GemmArgs& args, int row, int col, float v);

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

}  // namespace crossrank::kernels::ref
