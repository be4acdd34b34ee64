// Weight packing shared by the SIMD GEMMs. Plain scalar code, compiled for
// the baseline ISA, so every table can call it whatever its own flags.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace crossrank::kernels {

// Packs w ([n][k] row-major, as PyTorch stores a Linear weight) into column
// panels of nr outputs: panel j holds, for each p in [0, k), the nr values
// w[j*nr .. j*nr+nr)[p] side by side, zero-padded past n. A micro-kernel
// then reads one contiguous nr-wide row of its panel per k step.
void pack_column_panels(const float* w, int n, int k, int nr, const char* packed_for,
                        PackedWeights* out);

// Rounds w ([n][k] row-major) to bf16 and packs it into column panels of
// nr outputs for vdpbf16ps-style kernels: k is zero-padded to even, and
// panel j holds, for each pair q of k, the nr columns' (w[2q], w[2q+1])
// side by side (one 32-bit lane per column, the even k in the low half),
// zero columns past n. bdata then holds ceil(n / nr) * nr * (k + k % 2)
// values.
void pack_bf16_pair_panels(const float* w, int n, int k, int nr, const char* packed_for,
                           PackedWeights* out);

// The same with `group` consecutive k per column instead of a pair (k
// zero-padded to a multiple of group): for each group of k, the nr columns'
// group values one after the other. Group 4 is bfmmla's layout (columns 2c
// and 2c+1 of one group are one 16-byte operand).
void pack_bf16_group_panels(const float* w, int n, int k, int nr, int group,
                            const char* packed_for, PackedWeights* out);

// pack_bf16_group_panels with k zero-padded to a multiple of k_multiple (a
// multiple of group): the AMX kernel reads whole tiles of 32 k (16 pairs).
void pack_bf16_group_panels_padded(const float* w, int n, int k, int nr, int group,
                                   int k_multiple, const char* packed_for, PackedWeights* out);

// Bytes of int8 column panels of nr outputs for an n x k matrix, k padded to
// kQuantBlock (every int8 GEMM's panels, whatever their inner layout).
std::size_t int8_panel_bytes(int n, int k, int nr);

// Packs q ([n][k] int8 row-major) and its n per-output-channel scales into
// out->qdata and out->scales as column panels of nr outputs, k zero-padded to
// kQuantBlock and columns past n zero: in panel j, for each group of `group`
// k values, the nr columns' `group` bytes lie one after the other (group 4
// for a 4-byte dot per int32 lane, 16 for one int8x16 load per column).
void pack_int8_panels(const std::int8_t* q, const float* scales, int n, int k, int nr, int group,
                      const char* packed_for, PackedWeights* out);

}  // namespace crossrank::kernels
