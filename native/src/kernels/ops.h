// The kernel op list: every GEMM micro-kernel with its tile, and every
// kernel table with the ISA folder (namespace) whose code runs each of its
// ops. From these lists this header declares each namespace's kernel
// functions, and dispatch.cc builds each table and records, per op, which
// ISA implements it (KernelTable::implemented_by, what `crossrank info`
// reports). Included by baseline code, so it declares plain functions only.
//
// Where a new ISA goes (say AVX512-BF16 GEMM, AMX, Arm BF16 or I8MM):
//   1. One micro-kernel file, kernels/<isa>/gemm_<isa>.cc: its micro-kernel,
//      then CROSSRANK_DEFINE_GEMM(ItsMicroKernel), which packs W into column
//      panels and runs the one GEMM driver (kernels/gemm_driver.h; see
//      gemm_avx512.cc). An int8 kernel gives its integer loop to the int8
//      frame instead (kernels/qgemm_frame.h; on x86 through
//      x86::qgemm_on_frame, see qgemm_avx512vnni.cc).
//   2. One line below: its kernel in CROSSRANK_GEMM_KERNELS (or
//      CROSSRANK_QGEMM_KERNELS), and its table in CROSSRANK_KERNEL_TABLES,
//      which borrows every op it does not bring from an older table's
//      namespace.
//   Plus the build: the file in native/sources.json under a group with its
//   compiler flags (CMakeLists.txt, binding.gyp), which also defines the
//   table's CROSSRANK_HAVE_<ISA>_KERNELS.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

// 1 when the macro `flag` is defined to 1 (as the build defines
// CROSSRANK_HAVE_<ISA>_KERNELS for the ISA folders it compiles), else 0:
// usable inside other macros, where #ifdef is not.
#define CROSSRANK_FLAG_IS_SET(flag) CROSSRANK_FLAG_IS_SET_(flag)
#define CROSSRANK_FLAG_IS_SET_(value) CROSSRANK_FLAG_PICK_(CROSSRANK_FLAG_PROBE_##value)
#define CROSSRANK_FLAG_PROBE_1 ~,
#define CROSSRANK_FLAG_PICK_(probe) CROSSRANK_FLAG_SECOND_(probe 1, 0, ~)
#define CROSSRANK_FLAG_SECOND_(first, second, ...) second

// fp32 GEMM micro-kernels: X(namespace, name, mr, nr). Each namespace
// defines gemm_pack and gemm (the contracts of KernelTable).
#define CROSSRANK_GEMM_KERNELS(X)                 \
  X(ref, "f32_gemm_1x4__ref", 1, 4)               \
  X(avx2, "f32_gemm_6x16__avx2_fma", 6, 16)       \
  X(avx512, "f32_gemm_8x32__avx512f", 8, 32)      \
  X(neon, "f32_gemm_8x8__neon", 8, 8)

// int8 GEMM micro-kernels: X(namespace, name, mr, nr). Each namespace
// defines qgemm_pack and qgemm.
#define CROSSRANK_QGEMM_KERNELS(X)                  \
  X(ref, "qs8_gemm_1x1__ref", 1, 1)                 \
  X(avx2, "qs8_gemm_4x16__avx2", 4, 16)             \
  X(avx512vnni, "qs8_gemm_8x16__avx512vnni", 8, 16) \
  X(neon, "qs8_gemm_4x4__neon", 4, 4)              \
  X(neon_i8mm, "qs8_gemm_8x8__neon_i8mm", 8, 8)     \
  X(amx, "qs8_gemm_16x16__amx", 16, 16)             \
  X(amx_emulated, "qs8_gemm_16x16__amx_emulated", 16, 16)

// bf16 GEMM micro-kernels: X(namespace, name, mr, nr). Each namespace
// defines bgemm_pack and bgemm. Tables without one name `no_bgemm`.
#define CROSSRANK_BGEMM_KERNELS(X)                    \
  X(ref, "bf16_gemm_1x1__ref", 1, 1)                  \
  X(avx512bf16, "bf16_gemm_8x32__avx512bf16", 8, 32) \
  X(neon_bf16, "bf16_gemm_8x8__neon_bf16", 8, 8)     \
  X(amx, "bf16_gemm_32x32__amx", 32, 32)              \
  X(amx_emulated, "bf16_gemm_32x32__amx_emulated", 32, 32)

// Kernel tables, best first (available_kernels() keeps this order):
//   X(table namespace, isa name, built, cpu runs it (on CpuFeatures f),
//     gemm, qgemm, add_layernorm, gelu_erf, tanh, attention, bgemm)
// where each of the last seven names the namespace whose op the table uses
// (bgemm: no_bgemm for a table without a bf16 GEMM).
// A table is built when its folder is; the ops it borrows come from tables
// built with it (the x86 folders are built together).
// clang-format off
#define CROSSRANK_KERNEL_TABLES(X)                                                         \
  /* AMX (Intel Xeon 4th generation and later): the avx512bf16 table with the */           \
  /* tile GEMMs for int8 and bf16 weights. */                                              \
  X(amx, "amx", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_AMX_KERNELS),                         \
    f.avx2 && f.fma && f.avx512f && f.avx512_vnni && f.avx512vl && f.avx512bw &&           \
        f.avx512_bf16 && f.amx_bf16 && f.amx_int8,                                         \
    avx512, amx, avx2, avx2, avx2, avx512, amx)                                            \
  X(avx512bf16, "avx512bf16", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_AVX512BF16_KERNELS),    \
    f.avx2 && f.fma && f.avx512f && f.avx512_vnni && f.avx512vl && f.avx512bw &&           \
        f.avx512_bf16,                                                                     \
    avx512, avx512vnni, avx2, avx2, avx2, avx512, avx512bf16)                              \
  X(avx512vnni, "avx512vnni", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_AVX512VNNI_KERNELS),    \
    f.avx2 && f.fma && f.avx512f && f.avx512_vnni && f.avx512vl && f.avx512bw,             \
    avx512, avx512vnni, avx2, avx2, avx2, avx512, no_bgemm)                                \
  X(avx512, "avx512f", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_AVX512_KERNELS),               \
    f.avx2 && f.fma && f.avx512f,                                                          \
    avx512, avx2, avx2, avx2, avx2, avx512, no_bgemm)                                      \
  X(avx2, "avx2_fma", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_AVX2_KERNELS),                  \
    f.avx2 && f.fma,                                                                       \
    avx2, avx2, avx2, avx2, avx2, avx2, no_bgemm)                                          \
  /* tanh runs on the pooler's one row per sequence only: NEON keeps ref's. */             \
  /* Arm BF16 and I8MM (Graviton 3/4, Neoverse V1/V2): NEON's table with the */           \
  /* bfmmla bf16 GEMM and/or the smmla int8 GEMM. */                                        \
  X(neon_i8mm_bf16, "neon_i8mm_bf16",                                                      \
    CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_NEON_I8MM_KERNELS) &&                             \
        CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_NEON_BF16_KERNELS),                           \
    f.neon && f.arm_i8mm && f.arm_bf16,                                                    \
    neon, neon_i8mm, neon, neon, ref, neon, neon_bf16)                                     \
  X(neon_i8mm, "neon_i8mm", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_NEON_I8MM_KERNELS),       \
    f.neon && f.arm_i8mm,                                                                  \
    neon, neon_i8mm, neon, neon, ref, neon, no_bgemm)                                      \
  X(neon_bf16, "neon_bf16", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_NEON_BF16_KERNELS),       \
    f.neon && f.arm_bf16,                                                                  \
    neon, neon, neon, neon, ref, neon, neon_bf16)                                          \
  X(neon, "neon", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_NEON_KERNELS),                      \
    f.neon,                                                                                \
    neon, neon, neon, neon, ref, neon, no_bgemm)                                           \
  X(ref, "ref", 1, true, ref, ref, ref, ref, ref, ref, ref)                                \
  /* The AMX GEMMs on the scalar tile emulation (kernels/amx/tiles.h), for */              \
  /* the kernel tests on CPUs without AMX: never chosen, never available. */               \
  X(amx_emulated, "amx_emulated", CROSSRANK_FLAG_IS_SET(CROSSRANK_HAVE_AVX512BF16_KERNELS),\
    false,                                                                                 \
    avx512, amx_emulated, avx2, avx2, avx2, avx512, amx_emulated)
// clang-format on

namespace crossrank::kernels {

// ---- declarations generated from the lists ---------------------------------

#define CROSSRANK_DECLARE_GEMM(ns, name, mr, nr)                                            \
  namespace ns {                                                                            \
  inline constexpr char kGemmName[] = name;                                                 \
  inline constexpr int kGemmMr = mr;                                                        \
  inline constexpr int kGemmNr = nr;                                                        \
  void gemm_pack(const float* w, int n, int k, PackedWeights* out);                         \
  void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end); \
  }
CROSSRANK_GEMM_KERNELS(CROSSRANK_DECLARE_GEMM)
#undef CROSSRANK_DECLARE_GEMM

#define CROSSRANK_DECLARE_QGEMM(ns, name, mr, nr)                                            \
  namespace ns {                                                                             \
  inline constexpr char kQGemmName[] = name;                                                 \
  inline constexpr int kQGemmMr = mr;                                                        \
  inline constexpr int kQGemmNr = nr;                                                        \
  void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k,                  \
                  PackedWeights* out);                                                       \
  void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end); \
  }
CROSSRANK_QGEMM_KERNELS(CROSSRANK_DECLARE_QGEMM)
#undef CROSSRANK_DECLARE_QGEMM

#define CROSSRANK_DECLARE_BGEMM(ns, name, mr, nr)                                            \
  namespace ns {                                                                             \
  inline constexpr char kBGemmName[] = name;                                                 \
  inline constexpr int kBGemmMr = mr;                                                        \
  inline constexpr int kBGemmNr = nr;                                                        \
  void bgemm_pack(const float* w, int n, int k, PackedWeights* out);                         \
  void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end); \
  }
CROSSRANK_BGEMM_KERNELS(CROSSRANK_DECLARE_BGEMM)
#undef CROSSRANK_DECLARE_BGEMM

// Attention on bf16 (KernelTable::attention_bf16_heads) comes with a
// table's bf16 GEMM: X(namespace, isa name) for each bgemm namespace that
// defines attention_bf16_heads. Every other bgemm namespace (and no_bgemm)
// sees no_bf16_attention's null entries through a using-directive, which
// qualified lookup consults only when the namespace declares none itself.
#define CROSSRANK_BF16_ATTENTION_KERNELS(X) \
  X(ref, "ref")                             \
  X(avx512bf16, "avx512bf16")               \
  X(amx, "amx")                             \
  X(amx_emulated, "amx_emulated")

namespace no_bf16_attention {
inline constexpr const char* kAttentionBf16Isa = nullptr;
inline constexpr void (*attention_bf16_heads)(const AttentionArgs&, int, int) = nullptr;
}  // namespace no_bf16_attention

#define CROSSRANK_DECLARE_BF16_ATTENTION(ns, isa_name)                       \
  namespace ns {                                                             \
  inline constexpr const char* kAttentionBf16Isa = isa_name;                 \
  void attention_bf16_heads(const AttentionArgs& args, int head_begin, int head_end); \
  }
CROSSRANK_BF16_ATTENTION_KERNELS(CROSSRANK_DECLARE_BF16_ATTENTION)
#undef CROSSRANK_DECLARE_BF16_ATTENTION

#define CROSSRANK_BGEMM_NO_BF16_ATTENTION(ns, name, mr, nr) \
  namespace ns {                                            \
  using namespace no_bf16_attention;                        \
  }
CROSSRANK_BGEMM_KERNELS(CROSSRANK_BGEMM_NO_BF16_ATTENTION)
#undef CROSSRANK_BGEMM_NO_BF16_ATTENTION

// The bgemm column of a table without a bf16 GEMM: null entries, which
// KernelTable documents as "no bf16 GEMM" (dtype 'bf16' is refused).
namespace no_bgemm {
inline constexpr const char* kIsa = nullptr;
inline constexpr const char* kBGemmName = nullptr;
inline constexpr int kBGemmMr = 1;
inline constexpr int kBGemmNr = 1;
inline constexpr void (*bgemm_pack)(const float*, int, int, PackedWeights*) = nullptr;
inline constexpr void (*bgemm)(const GemmArgs&, int, int, int, int) = nullptr;
using namespace no_bf16_attention;
}  // namespace no_bgemm

// A table's own namespace names its ISA; the namespaces its other ops come
// from declare those ops (a repeated declaration is harmless).
#define CROSSRANK_DECLARE_TABLE_OPS(table, isa_name, built, cpu, gemm_ns, qgemm_ns, ln_ns,     \
                                    gelu_ns, tanh_ns, attention_ns, bgemm_ns)                 \
  namespace table {                                                                           \
  inline constexpr char kIsa[] = isa_name;                                                    \
  }                                                                                           \
  namespace ln_ns {                                                                           \
  void add_layernorm(const float* x, const float* residual, const float* gamma,               \
                     const float* beta, float eps, int rows, int cols, int ld, float* out);   \
  }                                                                                           \
  namespace gelu_ns {                                                                         \
  void gelu_erf(float* x, std::size_t count);                                                 \
  }                                                                                           \
  namespace tanh_ns {                                                                         \
  void tanh(float* x, std::size_t count);                                                     \
  }                                                                                           \
  namespace attention_ns {                                                                    \
  void attention(const AttentionArgs& args);                                                  \
  void attention_heads(const AttentionArgs& args, int head_begin, int head_end);              \
  }
CROSSRANK_KERNEL_TABLES(CROSSRANK_DECLARE_TABLE_OPS)
#undef CROSSRANK_DECLARE_TABLE_OPS

}  // namespace crossrank::kernels
