// Kernel tables and the one-time choice of the table this process uses.
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/ref/ref_kernels.h"
#if defined(CROSSRANK_HAVE_AVX2_KERNELS)
#include "kernels/avx2/avx2_kernels.h"
#endif
#if defined(CROSSRANK_HAVE_AVX512_KERNELS)
#include "kernels/avx512/avx512_kernels.h"
#endif
#if defined(CROSSRANK_HAVE_AVX512VNNI_KERNELS)
#include "kernels/avx512vnni/avx512vnni_kernels.h"
#endif
#if defined(CROSSRANK_HAVE_AVX512BF16_KERNELS)
#include "kernels/avx512bf16/avx512bf16_kernels.h"
#endif
#if defined(CROSSRANK_HAVE_NEON_KERNELS)
#include "kernels/neon/neon_kernels.h"
#endif

namespace crossrank::kernels {
namespace {

// Constant-initialised aggregates: no code runs at load, so nothing built
// with ISA flags can execute before the CPU check.
constexpr KernelTable kRefTable = {
    /*isa=*/"ref",
    /*gemm_name=*/ref::kGemmName,
    /*gemm_mr=*/ref::kGemmMr,
    /*gemm_nr=*/ref::kGemmNr,
    /*gemm_pack=*/ref::gemm_pack,
    /*gemm=*/ref::gemm,
    /*add_layernorm=*/ref::add_layernorm,
    /*gelu_erf=*/ref::gelu_erf,
    /*tanh=*/ref::tanh,
    /*attention=*/ref::attention,
    /*attention_heads=*/ref::attention_heads,
    /*qgemm_name=*/ref::kQGemmName,
    /*qgemm_mr=*/ref::kQGemmMr,
    /*qgemm_nr=*/ref::kQGemmNr,
    /*qgemm_pack=*/ref::qgemm_pack,
    /*qgemm=*/ref::qgemm,
    /*bgemm_name=*/ref::kBGemmName,
    /*bgemm_mr=*/ref::kBGemmMr,
    /*bgemm_nr=*/ref::kBGemmNr,
    /*bgemm_pack=*/ref::bgemm_pack,
    /*bgemm=*/ref::bgemm,
};

#if defined(CROSSRANK_HAVE_AVX2_KERNELS)
constexpr KernelTable kAvx2Table = {
    /*isa=*/"avx2_fma",
    /*gemm_name=*/avx2::kGemmName,
    /*gemm_mr=*/avx2::kGemmMr,
    /*gemm_nr=*/avx2::kGemmNr,
    /*gemm_pack=*/avx2::gemm_pack,
    /*gemm=*/avx2::gemm,
    /*add_layernorm=*/avx2::add_layernorm,
    /*gelu_erf=*/avx2::gelu_erf,
    /*tanh=*/avx2::tanh,
    /*attention=*/avx2::attention,
    /*attention_heads=*/avx2::attention_heads,
    /*qgemm_name=*/avx2::kQGemmName,
    /*qgemm_mr=*/avx2::kQGemmMr,
    /*qgemm_nr=*/avx2::kQGemmNr,
    /*qgemm_pack=*/avx2::qgemm_pack,
    /*qgemm=*/avx2::qgemm,
};
#endif

#if defined(CROSSRANK_HAVE_AVX512_KERNELS)
// The AVX2 table with the 512-bit GEMM and attention: every other kernel
// (and the int8 GEMM) is the AVX2 one, and the 512-bit kernels give the
// AVX2 ones' results bit for bit, so this table changes speed only.
constexpr KernelTable kAvx512Table = {
    /*isa=*/"avx512f",
    /*gemm_name=*/avx512::kGemmName,
    /*gemm_mr=*/avx512::kGemmMr,
    /*gemm_nr=*/avx512::kGemmNr,
    /*gemm_pack=*/avx512::gemm_pack,
    /*gemm=*/avx512::gemm,
    /*add_layernorm=*/avx2::add_layernorm,
    /*gelu_erf=*/avx2::gelu_erf,
    /*tanh=*/avx2::tanh,
    /*attention=*/avx512::attention,
    /*attention_heads=*/avx512::attention_heads,
    /*qgemm_name=*/avx2::kQGemmName,
    /*qgemm_mr=*/avx2::kQGemmMr,
    /*qgemm_nr=*/avx2::kQGemmNr,
    /*qgemm_pack=*/avx2::qgemm_pack,
    /*qgemm=*/avx2::qgemm,
};
#endif

#if defined(CROSSRANK_HAVE_AVX512VNNI_KERNELS)
// The avx512f table (AVX2 kernels, 512-bit fp32 GEMM and attention) with the VNNI int8
// GEMM in place of the AVX2 one.
constexpr KernelTable with_avx512vnni_qgemm(KernelTable t) {
  t.isa = "avx512vnni";
  t.qgemm_name = avx512vnni::kQGemmName;
  t.qgemm_mr = avx512vnni::kQGemmMr;
  t.qgemm_nr = avx512vnni::kQGemmNr;
  t.qgemm_pack = avx512vnni::qgemm_pack;
  t.qgemm = avx512vnni::qgemm;
  return t;
}
constexpr KernelTable kAvx512VnniTable = with_avx512vnni_qgemm(kAvx512Table);
#endif

#if defined(CROSSRANK_HAVE_AVX512BF16_KERNELS) && defined(CROSSRANK_HAVE_AVX512VNNI_KERNELS)
// The avx512vnni table with the vdpbf16ps GEMM for bf16 weights: its fp32
// and int8 results are the avx512vnni table's.
constexpr KernelTable with_avx512bf16_bgemm(KernelTable t) {
  t.isa = "avx512bf16";
  t.bgemm_name = avx512bf16::kBGemmName;
  t.bgemm_mr = avx512bf16::kBGemmMr;
  t.bgemm_nr = avx512bf16::kBGemmNr;
  t.bgemm_pack = avx512bf16::bgemm_pack;
  t.bgemm = avx512bf16::bgemm;
  return t;
}
constexpr KernelTable kAvx512Bf16Table = with_avx512bf16_bgemm(kAvx512VnniTable);
#endif

#if defined(CROSSRANK_HAVE_NEON_KERNELS)
constexpr KernelTable kNeonTable = {
    /*isa=*/"neon",
    /*gemm_name=*/neon::kGemmName,
    /*gemm_mr=*/neon::kGemmMr,
    /*gemm_nr=*/neon::kGemmNr,
    /*gemm_pack=*/neon::gemm_pack,
    /*gemm=*/neon::gemm,
    /*add_layernorm=*/neon::add_layernorm,
    /*gelu_erf=*/neon::gelu_erf,
    // tanh runs on the pooler's one row per sequence only.
    /*tanh=*/ref::tanh,
    /*attention=*/neon::attention,
    /*attention_heads=*/neon::attention_heads,
    /*qgemm_name=*/neon::kQGemmName,
    /*qgemm_mr=*/neon::kQGemmMr,
    /*qgemm_nr=*/neon::kQGemmNr,
    /*qgemm_pack=*/neon::qgemm_pack,
    /*qgemm=*/neon::qgemm,
};
#endif

bool cpu_runs_avx2() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma;  // both already require OS YMM support
}

bool cpu_runs_avx512() {
  // avx512f already requires OS ZMM and opmask support; the table's other
  // kernels are the AVX2 ones.
  return cpu_runs_avx2() && cpu_features().avx512f;
}

bool cpu_runs_avx512vnni() {
  const CpuFeatures& f = cpu_features();
  // The table's fp32 GEMM needs AVX-512F; its int8 kernel runs on the AVX2
  // frame (quantiser, epilogue).
  return cpu_runs_avx512() && f.avx512_vnni && f.avx512vl && f.avx512bw;
}

bool cpu_runs_avx512bf16() {
  return cpu_runs_avx512vnni() && cpu_features().avx512_bf16;
}

const KernelTable& choose() {
  const std::vector<const KernelTable*> tables = available_kernels();
  const char* want = std::getenv("CROSSRANK_ISA");
  if (want != nullptr) {
    // "avx2" names the avx2_fma table, "avx512" the avx512f table (AVX2 int8
    // GEMM), other names a table's isa; a table this CPU cannot run, or an
    // unknown name, is ignored (the best table is used).
    const char* isa = std::strcmp(want, "avx2") == 0     ? "avx2_fma"
                      : std::strcmp(want, "avx512") == 0 ? "avx512f"
                                                         : want;
    for (const KernelTable* t : tables)
      if (std::strcmp(t->isa, isa) == 0) return *t;
  }
  return *tables.front();
}

}  // namespace

const KernelTable& ref_kernels() { return kRefTable; }

const KernelTable* avx2_kernels() {
#if defined(CROSSRANK_HAVE_AVX2_KERNELS)
  return &kAvx2Table;
#else
  return nullptr;
#endif
}

const KernelTable* avx512_kernels() {
#if defined(CROSSRANK_HAVE_AVX512_KERNELS)
  return &kAvx512Table;
#else
  return nullptr;
#endif
}

const KernelTable* avx512vnni_kernels() {
#if defined(CROSSRANK_HAVE_AVX512VNNI_KERNELS)
  return &kAvx512VnniTable;
#else
  return nullptr;
#endif
}

const KernelTable* avx512bf16_kernels() {
#if defined(CROSSRANK_HAVE_AVX512BF16_KERNELS) && defined(CROSSRANK_HAVE_AVX512VNNI_KERNELS)
  return &kAvx512Bf16Table;
#else
  return nullptr;
#endif
}

const KernelTable* neon_kernels() {
#if defined(CROSSRANK_HAVE_NEON_KERNELS)
  return &kNeonTable;
#else
  return nullptr;
#endif
}

std::vector<const KernelTable*> available_kernels() {
  std::vector<const KernelTable*> tables;
  if (avx512bf16_kernels() != nullptr && cpu_runs_avx512bf16())
    tables.push_back(avx512bf16_kernels());
  if (avx512vnni_kernels() != nullptr && cpu_runs_avx512vnni())
    tables.push_back(avx512vnni_kernels());
  if (avx512_kernels() != nullptr && cpu_runs_avx512()) tables.push_back(avx512_kernels());
  if (avx2_kernels() != nullptr && cpu_runs_avx2()) tables.push_back(avx2_kernels());
  if (neon_kernels() != nullptr && cpu_features().neon) tables.push_back(neon_kernels());
  tables.push_back(&kRefTable);
  return tables;
}

const KernelTable& active_kernels() {
  static const KernelTable& table = choose();
  return table;
}

}  // namespace crossrank::kernels
