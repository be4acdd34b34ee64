// The scalar reference kernels (see kernels.h for the contract of each op).
// Written for clarity; every faster kernel is tested against these.
#pragma once

#include <cstddef>

#include "kernels/kernels.h"

namespace crossrank::kernels::ref {

inline constexpr char kGemmName[] = "f32_gemm_1x4__ref";
inline constexpr int kGemmMr = 1;
inline constexpr int kGemmNr = 4;

// Shared by the reference GELU op and the reference GEMM epilogue.
float gelu_erf_scalar(float x);

void gemm_pack(const float* w, int n, int k, PackedWeights* out);
void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out);
void gelu_erf(float* x, std::size_t count);
void tanh(float* x, std::size_t count);
void attention(const AttentionArgs& args);
void attention_heads(const AttentionArgs& args, int head_begin, int head_end);

}  // namespace crossrank::kernels::ref
