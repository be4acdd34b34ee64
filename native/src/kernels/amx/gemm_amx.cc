// bf16_gemm_32x32__amx and qs8_gemm_16x16__amx: the AMX GEMMs
// (kernels/amx/amx_gemms.h says how they work) on the hardware tiles. The
// table runs them only where cpu_features() found AMX-BF16 and AMX-INT8,
// the OS's tile state in XCR0 and this process's permission
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA), asked for once by
// cpu_features()); each call loads the tile configuration on its thread.
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

#if !defined(CROSSRANK_AMX_INSTRUCTIONS)
#error "kernels/amx/ is built with -mamx-tile -mamx-bf16 -mamx-int8"
#endif

namespace crossrank::kernels::amx {

CROSSRANK_DEFINE_AMX_KERNELS(amx_tiles::HardwareTiles)

}  // namespace crossrank::kernels::amx
