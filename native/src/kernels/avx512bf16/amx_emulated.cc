// The AMX GEMMs (kernels/amx/amx_gemms.h) on the scalar tile emulation
// (kernels/amx/tiles.h): the "amx_emulated" table, which the kernel tests
// check against the references on any CPU with AVX512-BF16, so that the AMX
// kernels' packing, tiling, edges and epilogue are tested where no AMX CPU
// is at hand. Never chosen to run a model (kernels/ops.h). Built with the
// AVX512-BF16 flags and no -mamx-*: the emulation needs none.
//
// This file grows no std::vector (see avx512vnni/qgemm_avx512vnni.cc).
// GCC 12 warns "'__Y' may be used uninitialized" inside most 512-bit
// intrinsics (GCC bug 105593, fixed in 13); the kernels are in the headers,
// so the pragma comes before them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/amx/amx_attention.h"
#include "kernels/amx/amx_gemms.h"
#include "kernels/amx/tiles.h"
#include "kernels/ops.h"

namespace crossrank::kernels::amx_emulated {

using Tiles = amx_tiles::EmulatedTiles;

void bgemm_pack(const float* w, int n, int k, PackedWeights* out) {
  amx_gemms::bgemm_pack(w, n, k, kBGemmName, out);
}

void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  amx_gemms::bgemm<Tiles>(args, row_begin, row_end, col_begin, col_end);
}

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  amx_gemms::qgemm_pack(q, scales, n, k, kQGemmName, out);
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  amx_gemms::qgemm<Tiles>(args, row_begin, row_end, col_begin, col_end);
}

void attention_bf16_heads(const AttentionArgs& args, int head_begin, int head_end) {
  amx_attention::attention_bf16_heads<Tiles>(args, head_begin, head_end);
}

}  // namespace crossrank::kernels::amx_emulated
