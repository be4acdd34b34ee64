// The AMX tile operations the AMX GEMMs use, behind one interface with two
// implementations:
//   - HardwareTiles: the instructions (ldtilecfg, tileloadd, tdpbf16ps,
//     tdpbssd, ...), in files built with -mamx-tile -mamx-bf16 -mamx-int8;
//   - EmulatedTiles: the same operations in scalar code, written from the
//     instructions' pseudo-code in Intel's SDM, for any CPU.
// A kernel is a template on the implementation (kernels/amx/amx_gemms.h), so
// the very loop, packing and epilogue that run on an AMX CPU also run on the
// emulation, and the kernel tests check them against the reference on every
// x86 machine with AVX512-BF16, AMX or not (the emulated table,
// amx_emulated_kernels()). The hardware table is tested only where the CPU
// has AMX; the tests say so when it has not.
//
// Tile state is per thread: each GEMM call loads its configuration on the
// thread that runs it and releases the tiles when done (so a thread that has
// finished with AMX does not keep 8 KB of tile data live across context
// switches).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>

// GCC names the AMX flags' macros __AMX_TILE__ ..., clang __AMXTILE__ ...
#if (defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AMX_INT8__)) || \
    (defined(__AMXTILE__) && defined(__AMXBF16__) && defined(__AMXINT8__))
#define CROSSRANK_AMX_INSTRUCTIONS 1
#include <immintrin.h>
#endif

namespace crossrank::kernels::amx_tiles {

// Palette 1's configuration, the 64-byte operand of ldtilecfg: for each of
// the eight tiles, its rows (at most 16) and bytes per row (at most 64).
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved0[14] = {};
  std::uint16_t colsb[8] = {};
  std::uint16_t reserved1[8] = {};
  std::uint8_t rows[8] = {};
  std::uint8_t reserved2[8] = {};

  constexpr void set(int tile, int tile_rows, int bytes_per_row) {
    rows[tile] = static_cast<std::uint8_t>(tile_rows);
    colsb[tile] = static_cast<std::uint16_t>(bytes_per_row);
  }
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads exactly 64 bytes");

inline constexpr int kTileRows = 16;
inline constexpr int kTileBytesPerRow = 64;

#if defined(CROSSRANK_AMX_INSTRUCTIONS)
// GCC's _tile_* intrinsics are macros that paste the tile number into the
// instruction's text, so it must be a literal: each operation picks its
// literal from the template argument.
#define CROSSRANK_AMX_TILE_CASES(T, OP) \
  if constexpr (T == 0) {               \
    OP(0);                              \
  } else if constexpr (T == 1) {        \
    OP(1);                              \
  } else if constexpr (T == 2) {        \
    OP(2);                              \
  } else if constexpr (T == 3) {        \
    OP(3);                              \
  } else if constexpr (T == 4) {        \
    OP(4);                              \
  } else if constexpr (T == 5) {        \
    OP(5);                              \
  } else if constexpr (T == 6) {        \
    OP(6);                              \
  } else {                              \
    static_assert(T == 7, "tiles are tmm0 to tmm7"); \
    OP(7);                              \
  }
struct HardwareTiles {
  static void configure(const TileConfig& config) { _tile_loadconfig(&config); }
  static void release() { _tile_release(); }
  template <int T>
  static void zero() {
#define CROSSRANK_AMX_ZERO(t) _tile_zero(t)
    CROSSRANK_AMX_TILE_CASES(T, CROSSRANK_AMX_ZERO)
#undef CROSSRANK_AMX_ZERO
  }
  template <int T>
  static void load(const void* base, std::size_t stride) {
    const long s = static_cast<long>(stride);
#define CROSSRANK_AMX_LOAD(t) _tile_loadd(t, base, s)
    CROSSRANK_AMX_TILE_CASES(T, CROSSRANK_AMX_LOAD)
#undef CROSSRANK_AMX_LOAD
  }
  template <int T>
  static void store(void* base, std::size_t stride) {
    const long s = static_cast<long>(stride);
#define CROSSRANK_AMX_STORE(t) _tile_stored(t, base, s)
    CROSSRANK_AMX_TILE_CASES(T, CROSSRANK_AMX_STORE)
#undef CROSSRANK_AMX_STORE
  }
  // The operand triples the kernels use (kernels/amx/amx_gemms.h).
  template <int C, int A, int B>
  static void dpbf16ps() {
    if constexpr (C == 0 && A == 4 && B == 6) {
      _tile_dpbf16ps(0, 4, 6);
    } else if constexpr (C == 1 && A == 4 && B == 7) {
      _tile_dpbf16ps(1, 4, 7);
    } else if constexpr (C == 2 && A == 5 && B == 6) {
      _tile_dpbf16ps(2, 5, 6);
    } else {
      static_assert(C == 3 && A == 5 && B == 7, "add the triple here");
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  template <int C, int A, int B>
  static void dpbssd() {
    if constexpr (C == 0 && A == 2 && B == 4) {
      _tile_dpbssd(0, 2, 4);
    } else {
      static_assert(C == 1 && A == 3 && B == 5, "add the triple here");
      _tile_dpbssd(1, 3, 5);
    }
  }
};
#undef CROSSRANK_AMX_TILE_CASES
#endif

// The tiles as memory, and each instruction as the SDM's pseudo-code says.
struct EmulatedTiles {
  struct State {
    TileConfig config;
    alignas(64) std::uint8_t tile[8][kTileRows * kTileBytesPerRow];
  };
  static State& state() {
    thread_local State s;
    return s;
  }
  // ldtilecfg zeroes every tile.
  static void configure(const TileConfig& config) {
    State& s = state();
    s.config = config;
    std::memset(s.tile, 0, sizeof s.tile);
  }
  static void release() { configure(TileConfig{}); }
  template <int T>
  static void zero() {
    std::memset(state().tile[T], 0, sizeof state().tile[T]);
  }
  // tileloadd: rows x colsb bytes from base (row stride `stride`); the
  // bytes past colsb in each row and the rows past `rows` become zero.
  template <int T>
  static void load(const void* base, std::size_t stride) {
    State& s = state();
    zero<T>();
    for (int r = 0; r < s.config.rows[T]; ++r)
      std::memcpy(s.tile[T] + r * kTileBytesPerRow, static_cast<const std::uint8_t*>(base) + r * stride,
                  s.config.colsb[T]);
  }
  template <int T>
  static void store(void* base, std::size_t stride) {
    const State& s = state();
    for (int r = 0; r < s.config.rows[T]; ++r)
      std::memcpy(static_cast<std::uint8_t*>(base) + r * stride, s.tile[T] + r * kTileBytesPerRow,
                  s.config.colsb[T]);
  }

  // TDPBF16PS C, A, B: for each row m of C and column n, the products of
  // the even bf16 of A's row m and B's row k (k over A's pairs, in order)
  // are summed in one fp32 temporary, those of the odd ones in another,
  // each addition rounded to nearest even with denormals flushed (DAZ,
  // FTZ); then C[m][n] += even + odd.
  template <int C, int A, int B>
  static void dpbf16ps() {
    State& s = state();
    const int pairs = s.config.colsb[A] / 4;
    const int cols = s.config.colsb[C] / 4;
    // The operands as fp32 (denormals as zero) once, not once per product.
    float a[kTileRows][2 * kTileBytesPerRow / 4], b[kTileRows][2 * kTileBytesPerRow / 4];
    for (int r = 0; r < kTileRows; ++r)
      for (int e = 0; e < 2 * kTileBytesPerRow / 4; ++e) {
        a[r][e] = bf16_at(A, r, e);
        b[r][e] = bf16_at(B, r, e);
      }
    for (int m = 0; m < s.config.rows[C]; ++m) {
      for (int n = 0; n < cols; ++n) {
        float even = 0.f, odd = 0.f;
        for (int k = 0; k < pairs; ++k) {
          even = flush(even + product(a[m][2 * k], b[k][2 * n]));
          odd = flush(odd + product(a[m][2 * k + 1], b[k][2 * n + 1]));
        }
        float c;
        std::memcpy(&c, s.tile[C] + m * kTileBytesPerRow + 4 * n, sizeof c);
        c = flush(c + flush(even + odd));
        std::memcpy(s.tile[C] + m * kTileBytesPerRow + 4 * n, &c, sizeof c);
      }
    }
  }

  // TDPBSSD C, A, B: C[m][n] (int32) += the dot of A's row m and B's
  // column n, four signed bytes per int32 lane (exact; the sum wraps
  // modulo 2^32 as the instruction's does).
  template <int C, int A, int B>
  static void dpbssd() {
    State& s = state();
    const int groups = s.config.colsb[A] / 4;
    const int cols = s.config.colsb[C] / 4;
    for (int m = 0; m < s.config.rows[C]; ++m) {
      for (int n = 0; n < cols; ++n) {
        std::uint32_t sum;
        std::memcpy(&sum, s.tile[C] + m * kTileBytesPerRow + 4 * n, sizeof sum);
        for (int k = 0; k < groups; ++k)
          for (int i = 0; i < 4; ++i) {
            const auto a = static_cast<std::int8_t>(s.tile[A][m * kTileBytesPerRow + 4 * k + i]);
            const auto b = static_cast<std::int8_t>(s.tile[B][k * kTileBytesPerRow + 4 * n + i]);
            sum += static_cast<std::uint32_t>(static_cast<std::int32_t>(a) * b);
          }
        std::memcpy(s.tile[C] + m * kTileBytesPerRow + 4 * n, &sum, sizeof sum);
      }
    }
  }

 private:
  // Element e (a bf16) of row r of tile t, as fp32, denormals as zero.
  static float bf16_at(int t, int r, int e) {
    std::uint16_t h;
    std::memcpy(&h, state().tile[t] + r * kTileBytesPerRow + 2 * e, sizeof h);
    const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return flush(x);
  }
  // A product of two bf16 is exact in fp32 unless it leaves the range:
  // computed in double, then rounded once (overflow to infinity) and flushed.
  static float product(float a, float b) {
    return flush(static_cast<float>(static_cast<double>(a) * b));
  }
  static float flush(float x) {
    return (x < std::numeric_limits<float>::min() && x > -std::numeric_limits<float>::min())
               ? (std::signbit(x) ? -0.f : 0.f)
               : x;
  }
};

}  // namespace crossrank::kernels::amx_tiles
