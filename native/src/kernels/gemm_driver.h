// The one fp32 GEMM driver: row blocks, column panels, the epilogue's
// pointers for each tile, and the edge tiles (fewer rows than the
// micro-kernel's, or fewer columns). An ISA's gemm_<isa>.cc brings only its
// micro-kernel and defines its entry points with
// CROSSRANK_DEFINE_GEMM(ItsMicroKernel) (packing into column panels, then
// gemm_driver<ItsMicroKernel>); the op list, kernels/ops.h, says where a new
// ISA's GEMM goes.
//
// A micro-kernel type K provides:
//   static constexpr int kMr, kNr;   the tile (kNr = its packed panels' width)
//   static int row_block(int k);     rows per block: each kNr x k panel of W is
//                                    read once per block and reused by every
//                                    kMr-row strip of it
//   using Columns = ...;             what it needs to know of a panel's width
//   static Columns columns(int nv);  ... made once per panel (nv <= kNr valid
//                                    columns; e.g. masks for nv < kNr)
//   static constexpr bool kFullTiles;  true: a panel of kNr valid columns
//                                    runs tile<MR, true> (no masking), others
//                                    tile<MR, false>; false: always the latter
//   template <int MR, bool kFull> static void tile(int k, const float* a,
//       std::size_t lda, const float* panel, float* c, std::size_t ldc,
//       const GemmTile& t, const Columns& cols);
//                                    c[MR x nv] = epilogue(a[MR x k] . panel)
//
// A kernel whose operands are not fp32 A and fp32 panels (the bf16 GEMM:
// A rounded to bf16 pairs per row block, W in bf16) also provides
//   struct Operands {
//     using A = ...; using W = ...;  what tile() reads for a and panel
//     static const W* panels(const PackedWeights& w);   the packed W
//     static std::size_t panel_depth(int k);   elements per column of a panel
//     static const A* rows(const GemmArgs& args, int ib, int ie,
//                          std::size_t* lda);  rows [ib, ie) of A as tile()
//                                    reads them (row stride *lda), valid
//                                    until the next call on this thread
//   };
// and tile() takes `const Operands::A* a` and `const Operands::W* panel`.
//
// Header-only, instantiated in each kernel file with that file's ISA flags;
// every function here is a template on K (a type local to that file), so
// each instantiation has internal linkage and stays with its file's flags.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "kernels/gemm_pack.h"
#include "kernels/kernels.h"

namespace crossrank::kernels {

// Where one tile's epilogue reads.
struct GemmTile {
  const float* bias;      // at the tile's first column, or null
  const float* residual;  // at the tile's first row and column, or null
  std::size_t ldr;
  Epilogue epilogue;
};

namespace gemm_detail {

// fp32 operands, read where they are: the default of K::Operands (a
// template on K, like everything here, so that it stays with K's file).
template <class K>
struct FloatOperands {
  using A = float;
  using W = float;
  static const float* panels(const PackedWeights& w) { return w.data.data(); }
  static std::size_t panel_depth(int k) { return static_cast<std::size_t>(k); }
  static const float* rows(const GemmArgs& args, int ib, int /*ie*/, std::size_t* lda) {
    *lda = static_cast<std::size_t>(args.lda);
    return args.a + static_cast<std::size_t>(ib) * args.lda;
  }
};

template <class K, class = void>
struct OperandsOf {
  using type = FloatOperands<K>;
};
template <class K>
struct OperandsOf<K, std::void_t<typename K::Operands>> {
  using type = typename K::Operands;
};

// K::tile<rows, full> for rows in [1, MR], by a chain of tests GCC turns
// into a jump table.
template <class K, int MR = K::kMr, class A, class W>
inline void tile_of_rows(int rows, bool full, int k, const A* a, std::size_t lda, const W* panel,
                         float* c, std::size_t ldc, const GemmTile& t,
                         const typename K::Columns& cols) {
  if (MR == 1 || rows == MR) {
    if (K::kFullTiles && full) {
      K::template tile<MR, true>(k, a, lda, panel, c, ldc, t, cols);
    } else {
      K::template tile<MR, false>(k, a, lda, panel, c, ldc, t, cols);
    }
  } else if constexpr (MR > 1) {
    tile_of_rows<K, MR - 1>(rows, full, k, a, lda, panel, c, ldc, t, cols);
  }
}

}  // namespace gemm_detail

// KernelTable::gemm's contract on weights packed into column panels of K::kNr
// (pack_column_panels, kernels/gemm_pack.h).
template <class K>
void gemm_driver(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  constexpr int kMr = K::kMr;
  constexpr int kNr = K::kNr;
  using Operands = typename gemm_detail::OperandsOf<K>::type;
  const int k = args.w->k;
  const std::size_t ldc = args.ldc, ldr = args.ldr;
  const int mc = K::row_block(k);
  const auto* packed = Operands::panels(*args.w);
  const std::size_t depth = Operands::panel_depth(k);

  for (int ib = row_begin; ib < row_end; ib += mc) {
    const int ie = std::min(row_end, ib + mc);
    std::size_t lda = 0;
    const auto* block = Operands::rows(args, ib, ie, &lda);
    for (int j = col_begin; j < col_end; j += kNr) {
      const int nv = std::min(kNr, col_end - j);
      const typename K::Columns cols = K::columns(nv);
      const auto* panel = packed + static_cast<std::size_t>(j / kNr) * kNr * depth;
      for (int i = ib; i < ie; i += kMr) {
        GemmTile t;
        t.epilogue = args.epilogue;
        t.bias = args.epilogue == Epilogue::kNone ? nullptr : args.bias + j;
        t.residual = args.epilogue == Epilogue::kBiasResidual ? args.residual + i * ldr + j
                                                              : nullptr;
        t.ldr = ldr;
        const auto* a = block + static_cast<std::size_t>(i - ib) * lda;
        float* c = args.c + i * ldc + j;
        gemm_detail::tile_of_rows<K>(std::min(kMr, ie - i), nv == kNr, k, a, lda, panel, c, ldc, t,
                                      cols);
      }
    }
  }
}

// What most micro-kernels share: they need only the count of a panel's
// valid columns and mask the rest themselves (kFull false).
struct CountsColumns {
  using Columns = int;
  static int columns(int nv) { return nv; }
  static constexpr bool kFullTiles = true;
};

}  // namespace crossrank::kernels

// Defines an ISA namespace's gemm_pack (column panels of MicroKernel::kNr,
// named kGemmName) and gemm (gemm_driver<MicroKernel>): the entry points
// kernels/ops.h declares. Use inside the ISA's namespace.
#define CROSSRANK_DEFINE_GEMM(MicroKernel)                                                      \
  void gemm_pack(const float* w, int n, int k, PackedWeights* out) {                            \
    pack_column_panels(w, n, k, MicroKernel::kNr, kGemmName, out);                              \
  }                                                                                             \
  void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {     \
    gemm_driver<MicroKernel>(args, row_begin, row_end, col_begin, col_end);                     \
  }
