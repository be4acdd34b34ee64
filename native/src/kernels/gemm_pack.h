// Weight packing shared by the SIMD GEMMs. Plain scalar code, compiled for
// the baseline ISA, so every table can call it whatever its own flags.
#pragma once

#include "kernels/kernels.h"

namespace crossrank::kernels {

// Packs w ([n][k] row-major, as PyTorch stores a Linear weight) into column
// panels of nr outputs: panel j holds, for each p in [0, k), the nr values
// w[j*nr .. j*nr+nr)[p] side by side, zero-padded past n. A micro-kernel
// then reads one contiguous nr-wide row of its panel per k step.
void pack_column_panels(const float* w, int n, int k, int nr, const char* packed_for,
                        PackedWeights* out);

}  // namespace crossrank::kernels
