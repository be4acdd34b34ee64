// Attention on bf16 with AMX tiles (KernelTable::attention_bf16_heads of
// the AMX tables), written once over the tile operations like the AMX GEMMs
// (kernels/amx/amx_gemms.h, which says which file instantiates what).
//
// Per head, K and V are packed into tiles once; then per block of 16 query
// rows (one tile of rows):
//   1. Q K^T: the block's query rows rounded to bf16 (head columns padded
//      to whole steps of 32), times each 16-key tile of K: one tdpbf16ps
//      per step of 32 head columns into a zeroed 16 x 16 fp32 tile, stored
//      into the rows' scores, then times the scale.
//   2. The x86 softmax in fp32 (x86/softmax_row.h), the weights rounded to
//      bf16 in key order: each row of P is a row of an A tile.
//   3. P V: for each 16-column panel of the output, one tdpbf16ps per step
//      of 32 keys (the steps that hold the block's keys: the others weigh
//      exactly 0, and skipping a step of zeros leaves the sum's bits as they
//      were), then times 1 / sum.
// Every sum is a chain of TDPBF16PS steps of 16 pairs from column 0 and key
// 0, so the output is bit for bit ref::attention_bf16_heads_amx
// (bgemm_test).
//
// Tiles: K packed as B tiles of 16 pairs of head columns x 16 keys (a key's
// two columns of a pair in one 32-bit lane); V as B tiles of 16 pairs of
// keys x 16 head columns (a column's two keys in one lane); Q and P are A
// tiles read from their rows. Scratch (attention_scratch_floats, which has
// room for this): packed K, packed V, 16 rows of fp32 scores, 16 rows of P,
// 16 query rows, each part 64-byte aligned.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/amx/amx_gemms.h"
#include "kernels/amx/tiles.h"
#include "kernels/avx512bf16/bf16_rows.h"
#include "kernels/kernels.h"
#include "kernels/x86/softmax_row.h"

namespace crossrank::kernels::amx_attention {
namespace {

constexpr int kRows = 16;           // query rows per block (a tile's rows)
constexpr int kTileCols = 16;       // keys or head columns per tile
constexpr int kStep = 32;           // bf16 per tile row: head columns or keys per step
constexpr int kTileValues = 16 * 32;  // bf16 in one packed tile (1 KB)

inline std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

struct Layout {
  int d, d_steps, d_panels;   // head columns, steps of 32 of them, panels of 16
  int padded;                 // keys padded to a multiple of 32
  std::uint32_t* k_tiles;     // [key panel][d step][16 column pairs][16 keys]
  std::uint32_t* v_tiles;     // [key step][d panel][16 key pairs][16 columns]
  float* scores;              // [16][padded]
  std::uint16_t* p;           // [16][padded]
  std::uint16_t* q;           // [16][d_steps * 32]
};

// Carves the scratch into 64-byte-aligned parts.
inline Layout layout(const AttentionArgs& args) {
  Layout l;
  l.d = args.head_dim;
  l.d_steps = (l.d + kStep - 1) / kStep;
  l.d_panels = (l.d + kTileCols - 1) / kTileCols;
  l.padded = static_cast<int>(round_up(static_cast<std::size_t>(args.seq_len), kStep));
  std::uintptr_t base = reinterpret_cast<std::uintptr_t>(args.scratch);
  auto take = [&base](std::size_t bytes) {
    base = round_up(base, 64);
    const std::uintptr_t part = base;
    base += bytes;
    return part;
  };
  const std::size_t padded = static_cast<std::size_t>(l.padded);
  l.k_tiles = reinterpret_cast<std::uint32_t*>(
      take(padded / kTileCols * l.d_steps * kTileValues * sizeof(std::uint16_t)));
  l.v_tiles = reinterpret_cast<std::uint32_t*>(
      take(padded / kStep * l.d_panels * kTileValues * sizeof(std::uint16_t)));
  l.scores = reinterpret_cast<float*>(take(kRows * padded * sizeof(float)));
  l.p = reinterpret_cast<std::uint16_t*>(take(kRows * padded * sizeof(std::uint16_t)));
  l.q = reinterpret_cast<std::uint16_t*>(
      take(static_cast<std::size_t>(kRows) * l.d_steps * kStep * sizeof(std::uint16_t)));
  return l;
}

// K of head h (keys past seq_len and columns past d zero) into tiles.
inline void pack_k(const AttentionArgs& args, const float* k, const Layout& l) {
  const std::size_t ld = static_cast<std::size_t>(args.ld_qkv);
  alignas(64) std::uint32_t pairs[16];
  for (int j = 0; j < l.padded; ++j) {
    const int panel = j / kTileCols, lane = j % kTileCols;
    for (int s = 0; s < l.d_steps; ++s) {
      const int c = s * kStep;
      __m512 lo = _mm512_setzero_ps(), hi = lo;
      if (j < args.seq_len) {
        const float* row = k + static_cast<std::size_t>(j) * ld + c;
        lo = _mm512_maskz_loadu_ps(lanes_below(l.d - c), row);
        hi = _mm512_maskz_loadu_ps(lanes_below(l.d - c - 16), row + 16);
      }
      _mm512_store_si512(pairs, bf16_pairs(lo, hi));
      std::uint32_t* tile =
          l.k_tiles + (static_cast<std::size_t>(panel) * l.d_steps + s) * (kTileValues / 2);
      for (int t = 0; t < 16; ++t) tile[t * kTileCols + lane] = pairs[t];
    }
  }
}

// V of head h into tiles: row q of a step's tile holds, for each of its 16
// columns, keys 2q and 2q + 1 of the step.
inline void pack_v(const AttentionArgs& args, const float* v, const Layout& l) {
  const std::size_t ld = static_cast<std::size_t>(args.ld_qkv);
  for (int j = 0; j < l.padded; j += 2) {
    const int step = j / kStep, row = (j % kStep) / 2;
    const float* row0 = v + static_cast<std::size_t>(j) * ld;
    const float* row1 = row0 + ld;
    for (int panel = 0; panel < l.d_panels; ++panel) {
      const int c = panel * kTileCols;
      const __mmask16 m = lanes_below(l.d - c);
      const __m512 x0 = j < args.seq_len ? _mm512_maskz_loadu_ps(m, row0 + c) : _mm512_setzero_ps();
      const __m512 x1 =
          j + 1 < args.seq_len ? _mm512_maskz_loadu_ps(m, row1 + c) : _mm512_setzero_ps();
      std::uint32_t* tile =
          l.v_tiles + (static_cast<std::size_t>(step) * l.d_panels + panel) * (kTileValues / 2);
      _mm512_storeu_si512(tile + row * kTileCols, bf16_column_pairs(x0, x1));
    }
  }
}

template <class Tiles>
void attention_bf16_heads(const AttentionArgs& args, int head_begin, int head_end) {
  const Layout l = layout(args);
  const int d = l.d;
  const int hidden = args.num_heads * d;
  const int q_width = l.d_steps * kStep;
  const std::size_t padded = static_cast<std::size_t>(l.padded);
  const std::size_t score_stride = padded * sizeof(float);
  const std::size_t p_stride = padded * sizeof(std::uint16_t);
  constexpr std::size_t kTileRowBytes = 64;
  alignas(64) float out_tile[kRows][kTileCols];
  alignas(64) float inv_sum[kRows];
  static constexpr amx_tiles::TileConfig kConfig = amx_gemms::bf16_tile_config();
  Tiles::configure(kConfig);
  for (int h = head_begin; h < head_end; ++h) {
    pack_k(args, args.qkv + hidden + h * d, l);
    pack_v(args, args.qkv + 2 * hidden + h * d, l);
    for (int block = 0; block < args.num_queries; block += kRows) {
      const int rows = std::min(kRows, args.num_queries - block);
      // 1. The block's query rows (zero rows past them), then its scores.
      round_rows(args.q + static_cast<std::size_t>(block) * args.ld_q + h * d, args.ld_q, rows, d,
                 q_width, l.q);
      std::fill(l.q + static_cast<std::size_t>(rows) * q_width,
                l.q + static_cast<std::size_t>(kRows) * q_width, std::uint16_t{0});
      const int keys_begin = attended_keys(args, args.query_position + block).begin;
      const int keys_end = attended_keys(args, args.query_position + block + rows - 1).end;
      const __m512 scale = _mm512_set1_ps(args.scale);
      for (int panel = keys_begin / kTileCols; panel * kTileCols < keys_end; ++panel) {
        Tiles::template zero<0>();
        for (int s = 0; s < l.d_steps; ++s) {
          Tiles::template load<4>(l.q + s * kStep, q_width * sizeof(std::uint16_t));
          Tiles::template load<6>(
              l.k_tiles + (static_cast<std::size_t>(panel) * l.d_steps + s) * (kTileValues / 2),
              kTileRowBytes);
          Tiles::template dpbf16ps<0, 4, 6>();
        }
        float* s_panel = l.scores + panel * kTileCols;
        Tiles::template store<0>(s_panel, score_stride);
        for (int r = 0; r < rows; ++r) {
          float* x = s_panel + r * padded;
          _mm512_storeu_ps(x, _mm512_mul_ps(_mm512_loadu_ps(x), scale));
        }
      }
      // 2. Softmax in fp32 (scores outside the row's keys -inf first: with
      // a window, they were not all computed), the weights in bf16.
      for (int r = 0; r < rows; ++r) {
        float* s = l.scores + r * padded;
        const KeyRange own = attended_keys(args, args.query_position + block + r);
        std::fill(s, s + own.begin, -INFINITY);
        std::fill(s + own.end, s + padded, -INFINITY);
        inv_sum[r] = x86::softmax_row(s, args.seq_len, l.padded);
      }
      round_rows(l.scores, padded, rows, l.padded, l.padded, l.p);
      std::fill(l.p + static_cast<std::size_t>(rows) * padded, l.p + kRows * padded,
                std::uint16_t{0});
      // 3. P V over the steps of 32 keys that hold the block's keys.
      const int step_begin = keys_begin / kStep;
      const int step_end = (keys_end + kStep - 1) / kStep;
      float* o = args.out + static_cast<std::size_t>(block) * args.ld_out + h * d;
      for (int panel = 0; panel < l.d_panels; ++panel) {
        Tiles::template zero<0>();
        for (int s = step_begin; s < step_end; ++s) {
          Tiles::template load<4>(l.p + s * kStep, p_stride);
          Tiles::template load<6>(
              l.v_tiles + (static_cast<std::size_t>(s) * l.d_panels + panel) * (kTileValues / 2),
              kTileRowBytes);
          Tiles::template dpbf16ps<0, 4, 6>();
        }
        Tiles::template store<0>(out_tile, sizeof out_tile[0]);
        const int c = panel * kTileCols;
        const __mmask16 m = lanes_below(d - c);
        for (int r = 0; r < rows; ++r)
          _mm512_mask_storeu_ps(o + static_cast<std::size_t>(r) * args.ld_out + c, m,
                                _mm512_mul_ps(_mm512_load_ps(out_tile[r]), _mm512_set1_ps(inv_sum[r])));
      }
    }
  }
  Tiles::release();
}

}  // namespace
}  // namespace crossrank::kernels::amx_attention
