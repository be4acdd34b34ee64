// Helpers of the scalar reference kernels that other kernels reuse (the
// reference ops themselves are declared by kernels/ops.h, in namespace ref).
// Written for clarity; every faster kernel is tested against the reference.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace crossrank::kernels::ref {

// Shared by the reference GELU op and the reference GEMM epilogue.
float gelu_erf_scalar(float x);
// The epilogue of args applied to the dot product v of output (row, col);
// shared by the scalar GEMMs.
float apply_epilogue(const GemmArgs& args, int row, int col, float v);

// The bgemm sum of one output: a (already rounded to bf16) and w, k_even
// values each, pair by pair in vdpbf16ps's order.
float bf16_pair_dot(const float* a, const std::uint16_t* w, int k_even);

// fp32 a + b rounded to odd (of the two fp32 values around an inexact sum,
// the one whose last significand bit is 1), past the largest float to
// infinity, a subnormal result flushed to a zero of its sign, any NaN the
// default NaN: the additions of Arm's BFDOT and BFMMLA with FPCR.EBF = 0.
float add_round_odd(float a, float b);

// The bgemm sum of one output as Arm's BFDOT / BFMMLA make it: for each pair
// of k in order, the two exact products added (rounded to odd), then added
// to the sum (rounded to odd); products below the smallest normal float
// flushed to zero.
float bf16_pair_dot_round_odd(const float* a, const std::uint16_t* w, int k_even);

// The bgemm contract with bf16_pair_dot_round_odd's sums, on weights packed
// by ref::bgemm_pack: the reference of the Arm BF16 kernel.
void bgemm_round_odd(const GemmArgs& args, int row_begin, int row_end, int col_begin,
                     int col_end);

// The bgemm sum of one output as AMX's TDPBF16PS makes it (Intel SDM), one
// instruction per step of kAmxStepPairs pairs of k (k zero-padded to whole
// steps): in each step the even elements' products are summed in one fp32
// temporary from +0 and the odd ones' in another, in k order, each addition
// rounded to nearest even; then sum += even + odd. Products and sums below
// the smallest normal float are flushed to zero (DAZ/FTZ).
inline constexpr int kAmxStepPairs = 16;
float bf16_pair_dot_amx(const float* a, const std::uint16_t* w, int k_even);

// The same sum of two vectors of floats already rounded to bf16.
float float_pair_dot_amx(const float* a, const float* b, int k_even);

// The bgemm contract with bf16_pair_dot_amx's sums, on weights packed by
// ref::bgemm_pack: the reference of the AMX bf16 kernel.
void bgemm_amx(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end);

// attention_bf16_heads (the contract in kernels.h) with every sum, Q K^T's
// and P V's, in TDPBF16PS's order (float_pair_dot_amx, head columns and keys
// padded with zeros to whole steps of 16 pairs from column 0 and key 0):
// the reference of the AMX attention on bf16.
void attention_bf16_heads_amx(const AttentionArgs& args, int head_begin, int head_end);

}  // namespace crossrank::kernels::ref
