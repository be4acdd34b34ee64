// Kernels built with -mavx512f -mavx512vnni -mavx512vl -mavx512bw (plus
// AVX2+FMA; see kernels.h for each contract). Included by baseline code (dispatch.cc), so
// it declares plain functions only; call them only when cpu_features() has
// avx512_vnni, avx512vl and avx512bw, and avx2 and fma.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace crossrank::kernels::avx512vnni {

inline constexpr char kQGemmName[] = "qs8_gemm_8x16__avx512vnni";
inline constexpr int kQGemmMr = 8;
inline constexpr int kQGemmNr = 16;

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out);
void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);

}  // namespace crossrank::kernels::avx512vnni
