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

}  // namespace crossrank::kernels::ref
