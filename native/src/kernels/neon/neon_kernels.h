// Kernels for AArch64 Advanced SIMD (see kernels.h for each contract). NEON
// is part of the AArch64 baseline, so these files need no extra flags and
// every AArch64 CPU can run them; they are built only for AArch64 targets.
#pragma once

#include <cstddef>

#include "kernels/kernels.h"

namespace crossrank::kernels::neon {

inline constexpr char kGemmName[] = "f32_gemm_8x8__neon";
inline constexpr int kGemmMr = 8;
inline constexpr int kGemmNr = 8;
inline constexpr char kQGemmName[] = "qs8_gemm_4x4__neon";
inline constexpr int kQGemmMr = 4;
inline constexpr int kQGemmNr = 4;

void gemm_pack(const float* w, int n, int k, PackedWeights* out);
void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out);
void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out);
void gelu_erf(float* x, std::size_t count);
void attention(const AttentionArgs& args);
void attention_heads(const AttentionArgs& args, int head_begin, int head_end);

}  // namespace crossrank::kernels::neon
