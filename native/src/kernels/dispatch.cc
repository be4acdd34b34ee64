// Kernel tables, built from the list in kernels/ops.h, and the one-time
// choice of the table this process uses.
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace crossrank::kernels {
namespace {

// One row of CROSSRANK_KERNEL_TABLES: whether this build has the table,
// whether a CPU can run it, and the table itself, a constant-initialised
// aggregate, so that no code built with ISA flags runs before the CPU check.
// A table that is not built is never instantiated (table_if_built), so its
// functions, which that build lacks, are never referred to.
#define CROSSRANK_TABLE_ROW(table, isa_name, built, cpu, gemm_ns, qgemm_ns, ln_ns, gelu_ns,  \
                            tanh_ns, attention_ns, bgemm_ns)                                \
  struct table##_row {                                                                      \
    static constexpr bool kBuilt = (built) != 0;                                            \
    static bool cpu_runs([[maybe_unused]] const CpuFeatures& f) { return cpu; }             \
    static constexpr KernelTable make() {                                                   \
      KernelTable t{};                                                                      \
      t.isa = table::kIsa;                                                                  \
      t.gemm_name = gemm_ns::kGemmName;                                                     \
      t.gemm_mr = gemm_ns::kGemmMr;                                                         \
      t.gemm_nr = gemm_ns::kGemmNr;                                                         \
      t.gemm_pack = gemm_ns::gemm_pack;                                                     \
      t.gemm = gemm_ns::gemm;                                                               \
      t.add_layernorm = ln_ns::add_layernorm;                                               \
      t.gelu_erf = gelu_ns::gelu_erf;                                                       \
      t.tanh = tanh_ns::tanh;                                                               \
      t.attention = attention_ns::attention;                                                \
      t.attention_heads = attention_ns::attention_heads;                                    \
      t.qgemm_name = qgemm_ns::kQGemmName;                                                  \
      t.qgemm_mr = qgemm_ns::kQGemmMr;                                                      \
      t.qgemm_nr = qgemm_ns::kQGemmNr;                                                      \
      t.qgemm_pack = qgemm_ns::qgemm_pack;                                                  \
      t.qgemm = qgemm_ns::qgemm;                                                            \
      t.bgemm_name = bgemm_ns::kBGemmName;                                                  \
      t.bgemm_mr = bgemm_ns::kBGemmMr;                                                      \
      t.bgemm_nr = bgemm_ns::kBGemmNr;                                                      \
      t.bgemm_pack = bgemm_ns::bgemm_pack;                                                  \
      t.bgemm = bgemm_ns::bgemm;                                                            \
      t.implemented_by.bgemm = bgemm_ns::kIsa;                                              \
      t.attention_bf16_heads = bgemm_ns::attention_bf16_heads;                              \
      t.implemented_by.attention_bf16 = bgemm_ns::kAttentionBf16Isa;                        \
      t.implemented_by.gemm = gemm_ns::kIsa;                                                \
      t.implemented_by.qgemm = qgemm_ns::kIsa;                                              \
      t.implemented_by.add_layernorm = ln_ns::kIsa;                                         \
      t.implemented_by.gelu_erf = gelu_ns::kIsa;                                            \
      t.implemented_by.tanh = tanh_ns::kIsa;                                                \
      t.implemented_by.attention = attention_ns::kIsa;                                      \
      return t;                                                                             \
    }                                                                                       \
  };
CROSSRANK_KERNEL_TABLES(CROSSRANK_TABLE_ROW)
#undef CROSSRANK_TABLE_ROW

template <class Row>
const KernelTable* table_if_built() {
  if constexpr (Row::kBuilt) {
    static constexpr KernelTable kTable = Row::make();
    return &kTable;
  } else {
    return nullptr;
  }
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

const KernelTable& ref_kernels() { return *table_if_built<ref_row>(); }
const KernelTable* avx2_kernels() { return table_if_built<avx2_row>(); }
const KernelTable* avx512_kernels() { return table_if_built<avx512_row>(); }
const KernelTable* avx512vnni_kernels() { return table_if_built<avx512vnni_row>(); }
const KernelTable* avx512bf16_kernels() { return table_if_built<avx512bf16_row>(); }
const KernelTable* amx_kernels() { return table_if_built<amx_row>(); }
const KernelTable* amx_emulated_kernels() { return table_if_built<amx_emulated_row>(); }
const KernelTable* neon_kernels() { return table_if_built<neon_row>(); }
const KernelTable* neon_i8mm_kernels() { return table_if_built<neon_i8mm_row>(); }
const KernelTable* neon_bf16_kernels() { return table_if_built<neon_bf16_row>(); }
const KernelTable* neon_i8mm_bf16_kernels() { return table_if_built<neon_i8mm_bf16_row>(); }

std::vector<const KernelTable*> available_kernels() {
  std::vector<const KernelTable*> tables;
  const CpuFeatures& features = cpu_features();
#define CROSSRANK_ADD_IF_RUNNABLE(table, ...)                                        \
  if (table_if_built<table##_row>() != nullptr && table##_row::cpu_runs(features)) \
    tables.push_back(table_if_built<table##_row>());
  CROSSRANK_KERNEL_TABLES(CROSSRANK_ADD_IF_RUNNABLE)
#undef CROSSRANK_ADD_IF_RUNNABLE
  return tables;
}

const KernelTable& active_kernels() {
  static const KernelTable& table = choose();
  return table;
}

}  // namespace crossrank::kernels
