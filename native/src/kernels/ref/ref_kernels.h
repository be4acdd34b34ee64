// Helpers of the scalar reference kernels that other kernels reuse (the
// reference ops themselves are declared by kernels/ops.h, in namespace ref).
// Written for clarity; every faster kernel is tested against the reference.
#pragma once

#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace crossrank::kernels::ref {

// Shared by the reference GELU op and the reference GEMM epilogue.
float gelu_erf_scalar(float x);
// The epilogue of args applied to the dot product v of output (row, col);
// shared by the scalar GEMMs.
float apply_epilogue(const GemmArgs& args, int row, int col, float v);

}  // namespace crossrank::kernels::ref
