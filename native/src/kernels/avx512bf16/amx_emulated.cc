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
#include "kernels/amx/amx_kernels.h"
#include "kernels/ops.h"

namespace crossrank::kernels::amx_emulated {

CROSSRANK_DEFINE_AMX_KERNELS(amx_tiles::EmulatedTiles)

}  // namespace crossrank::kernels::amx_emulated
