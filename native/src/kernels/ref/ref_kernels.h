// The scalar reference kernels (see kernels.h for the contract of each op).
// Written for clarity; every faster kernel is tested against these.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace crossrank::kernels::ref {

inline constexpr char kGemmName[] = "f32_gemm_1x4__ref";
inline constexpr int kGemmMr = 1;
inline constexpr int kGemmNr = 4;

inline constexpr char kQGemmName[] = "qs8_gemm_1x1__ref";
inline constexpr int kQGemmMr = 1;
inline constexpr int kQGemmNr = 1;

inline constexpr char kBGemmName[] = "bf16_gemm_1x1__ref";
inline constexpr int kBGemmMr = 1;
inline constexpr int kBGemmNr = 1;

// Shared by the reference GELU op and the reference GEMM epilogue.
float gelu_erf_scalar(float x);
// The epilogue of args applied to the dot product v of output (row, col);
// shared by the scalar GEMMs.
float apply_epilogue(const GemmArgs& args, int row, int col, float v);

void gemm_pack(const float* w, int n, int k, PackedWeights* out);
void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out);
void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
void bgemm_pack(const float* w, int n, int k, PackedWeights* out);
void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);
// The bgemm sum of one output: a (already rounded to bf16) and w, k_even
// values each, pair by pair in vdpbf16ps's order.
float bf16_pair_dot(const float* a, const std::uint16_t* w, int k_even);
void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out);
void gelu_erf(float* x, std::size_t count);
void tanh(float* x, std::size_t count);
void attention(const AttentionArgs& args);
void attention_heads(const AttentionArgs& args, int head_begin, int head_end);

}  // namespace crossrank::kernels::ref
