// The entry points of an AMX table's namespace (the bgemm, qgemm and
// attention_bf16_heads that kernels/ops.h declares), on the tile operations
// `Tiles` (kernels/amx/tiles.h): the hardware table's file and the emulated
// table's file each expand CROSSRANK_DEFINE_AMX_KERNELS in their namespace.
#pragma once

#include "kernels/amx/amx_attention.h"
#include "kernels/amx/amx_gemms.h"
#include "kernels/amx/tiles.h"

#define CROSSRANK_DEFINE_AMX_KERNELS(Tiles)                                                   \
  void bgemm_pack(const float* w, int n, int k, PackedWeights* out) {                          \
    amx_gemms::bgemm_pack(w, n, k, kBGemmName, out);                                           \
  }                                                                                            \
  void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {   \
    amx_gemms::bgemm<Tiles>(args, row_begin, row_end, col_begin, col_end);                     \
  }                                                                                            \
  void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) { \
    amx_gemms::qgemm_pack(q, scales, n, k, kQGemmName, out);                                   \
  }                                                                                            \
  void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {   \
    amx_gemms::qgemm<Tiles>(args, row_begin, row_end, col_begin, col_end);                     \
  }                                                                                            \
  void attention_bf16_heads(const AttentionArgs& args, int head_begin, int head_end) {         \
    amx_attention::attention_bf16_heads<Tiles>(args, head_begin, head_end);                    \
  }
