// Attention on bf16 with vdpbf16ps (KernelTable::attention_bf16_heads): the
// x86 attention walk's plan (x86/attention_walk.h) on bf16 operands, 8 query
// rows x 32 keys (or 32 output columns) per register tile, and the walk's
// softmax (x86/softmax_row.h) in fp32 between the two products.
//
//   1. Per head, K is packed into panels of 32 keys, each pair of head
//      columns (t, t + 1) one 32-bit lane per key (t low, t + 1 high), and V
//      into rows of key pairs (2q, 2q + 1), each output column one lane
//      (key 2q low): head_dim padded to 32, zero past seq_len. Every rounding
//      to bf16 here is vcvtne2ps2bf16's, which is f32_to_bf16's (kernels/bf16.h).
//   2. A block of up to 48 query rows is rounded into pairs of columns; the
//      scores of 8 rows x 32 keys take one broadcast of a row's pair and two
//      vdpbf16ps per pair of columns: the lane's chain over the pairs in
//      order is ref's pair_dot, times the scale.
//   3. The softmax of the walk (fp32); each row's weights are rounded to
//      bf16 in key pairs; P V steps through the key pairs of the block's
//      keys in order (the pairs outside weigh exactly 0, so skipping them
//      leaves ref's chain, which starts at key 0, unchanged), times 1 / sum.
//
// So every output is bit for bit ref::attention_bf16_heads (bgemm_test).
// Scratch (attention_scratch_floats): packed K, packed V, 48 rows of fp32
// scores, their bf16 weights, the block's bf16 query rows. No std::vector
// here (see qgemm_avx512vnni.cc).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/avx512bf16/bf16_rows.h"
#include "kernels/ops.h"
#include "kernels/x86/softmax_row.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512bf16 {
namespace {

constexpr int kMr = 8;
constexpr int kKeys = 32;     // keys per panel of packed K (two zmm of fp32 scores)
constexpr int kCols = 32;     // output columns per P V tile (two zmm)
constexpr int kRowBlock = 48;

// x[0, n) rounded to bf16 in pairs, zero past n: (n + 1) / 2 words of out.
inline void to_bf16_pairs(const float* x, int n, std::uint32_t* out) {
  for (int i = 0; i < n; i += 32) {
    const __m512 lo = _mm512_maskz_loadu_ps(lanes_below(n - i), x + i);
    const __m512 hi = _mm512_maskz_loadu_ps(lanes_below(n - i - 16), x + i + 16);
    const int words = std::min(16, (n - i + 1) / 2);
    _mm512_mask_storeu_epi32(out + i / 2, lanes_below(words), bf16_pairs(lo, hi));
  }
}

inline __m512 dot(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh&>(a), reinterpret_cast<__m512bh&>(b));
}

struct Head {
  const std::uint32_t* kp;  // [panel][pair of columns][kKeys]
  const std::uint32_t* vp;  // [pair of keys][d_pad]
  const std::uint32_t* qb;  // [row of the block][pair of columns]
  int pairs;                // pairs of head columns
  int d;
  int d_pad;
  int padded;
  float scale;
};

// Scores of MR rows of the block from row r, keys of panels [begin, end).
template <int MR>
void scores_strip(const Head& hd, int r, int begin, int end, float* s) {
  const __m512 scale = _mm512_set1_ps(hd.scale);
  for (int p0 = begin; p0 < end; p0 += kKeys) {
    const std::uint32_t* panel = hd.kp + static_cast<std::size_t>(p0) * hd.pairs;
    const std::uint32_t* q = hd.qb + static_cast<std::size_t>(r) * hd.pairs;
    __m512 acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (int t = 0; t < hd.pairs; ++t, panel += kKeys) {
      const __m512i b0 = _mm512_loadu_si512(panel);
      const __m512i b1 = _mm512_loadu_si512(panel + 16);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512i a = _mm512_set1_epi32(static_cast<int>(q[i * hd.pairs + t]));
        acc0[i] = dot(acc0[i], a, b0);
        acc1[i] = dot(acc1[i], a, b1);
      }
    }
    for (int i = 0; i < MR; ++i) {
      _mm512_storeu_ps(s + i * hd.padded + p0, _mm512_mul_ps(acc0[i], scale));
      _mm512_storeu_ps(s + i * hd.padded + p0 + 16, _mm512_mul_ps(acc1[i], scale));
    }
  }
}

// Outputs of MR rows from their bf16 weights pb (row stride padded / 2
// pairs) over key pairs [pair_begin, pair_end).
template <int MR>
void values_strip(const Head& hd, const std::uint32_t* pb, int pair_begin, int pair_end,
                  const float* inv_sum, float* o, std::size_t ldo) {
  const int ldp = hd.padded / 2;
  for (int c = 0; c < hd.d; c += kCols) {
    const int width = std::min(kCols, hd.d - c);
    const __mmask16 m0 = static_cast<__mmask16>(width >= 16 ? 0xFFFF : (1u << width) - 1);
    const __mmask16 m1 =
        static_cast<__mmask16>(width >= 32 ? 0xFFFF : width <= 16 ? 0 : (1u << (width - 16)) - 1);
    __m512 acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
    const std::uint32_t* v = hd.vp + static_cast<std::size_t>(pair_begin) * hd.d_pad + c;
    for (int q = pair_begin; q < pair_end; ++q, v += hd.d_pad) {
      const __m512i b0 = _mm512_loadu_si512(v);
      const __m512i b1 = _mm512_loadu_si512(v + 16);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512i a = _mm512_set1_epi32(static_cast<int>(pb[i * ldp + q]));
        acc0[i] = dot(acc0[i], a, b0);
        acc1[i] = dot(acc1[i], a, b1);
      }
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 scale = _mm512_set1_ps(inv_sum[i]);
      _mm512_mask_storeu_ps(o + i * ldo + c, m0, _mm512_mul_ps(acc0[i], scale));
      _mm512_mask_storeu_ps(o + i * ldo + c + 16, m1, _mm512_mul_ps(acc1[i], scale));
    }
  }
}

template <int MR = kMr>
void scores_strip_of(int rows, const Head& hd, int r, int begin, int end, float* s) {
  if constexpr (MR == 1) {
    scores_strip<1>(hd, r, begin, end, s);
  } else if (rows == MR) {
    scores_strip<MR>(hd, r, begin, end, s);
  } else {
    scores_strip_of<MR - 1>(rows, hd, r, begin, end, s);
  }
}
template <int MR = kMr>
void values_strip_of(int rows, const Head& hd, const std::uint32_t* pb, int pair_begin,
                     int pair_end, const float* inv_sum, float* o, std::size_t ldo) {
  if constexpr (MR == 1) {
    values_strip<1>(hd, pb, pair_begin, pair_end, inv_sum, o, ldo);
  } else if (rows == MR) {
    values_strip<MR>(hd, pb, pair_begin, pair_end, inv_sum, o, ldo);
  } else {
    values_strip_of<MR - 1>(rows, hd, pb, pair_begin, pair_end, inv_sum, o, ldo);
  }
}

}  // namespace

void attention_bf16_heads(const AttentionArgs& args, int head_begin, int head_end) {
  const int d = args.head_dim;
  const int hidden = args.num_heads * d;
  Head hd;
  hd.d = d;
  hd.pairs = (d + 1) / 2;
  hd.d_pad = (d + kCols - 1) / kCols * kCols;
  hd.padded = (args.seq_len + kKeys - 1) / kKeys * kKeys;
  hd.scale = args.scale;
  const std::size_t padded = static_cast<std::size_t>(hd.padded);
  // Scratch parts (sizes in 32-bit words; attention_scratch_floats counts them).
  auto* kp = reinterpret_cast<std::uint32_t*>(args.scratch);
  std::uint32_t* vp = kp + padded * hd.pairs;
  auto* scores = reinterpret_cast<float*>(vp + padded / 2 * hd.d_pad);
  auto* pb = reinterpret_cast<std::uint32_t*>(scores + kRowBlock * padded);
  std::uint32_t* qb = pb + kRowBlock * padded / 2;
  hd.kp = kp;
  hd.vp = vp;
  hd.qb = qb;
  alignas(64) float inv_sum[kRowBlock];
  const std::size_t ld = static_cast<std::size_t>(args.ld_qkv);

  for (int h = head_begin; h < head_end; ++h) {
    const float* k = args.qkv + hidden + h * d;
    const float* v = args.qkv + 2 * hidden + h * d;
    // 1. K in panels of column pairs, V in rows of key pairs; zeros past
    // seq_len and head_dim.
    alignas(64) std::uint32_t row_pairs[kCols / 2];
    for (int p0 = 0; p0 < hd.padded; p0 += kKeys) {
      std::uint32_t* panel = kp + static_cast<std::size_t>(p0) * hd.pairs;
      for (int jj = 0; jj < kKeys; ++jj) {
        const int j = p0 + jj;
        if (j >= args.seq_len) {
          for (int t = 0; t < hd.pairs; ++t) panel[t * kKeys + jj] = 0;
          continue;
        }
        const float* row = k + static_cast<std::size_t>(j) * ld;
        for (int t0 = 0; t0 < hd.pairs; t0 += kCols / 2) {
          const int cols = std::min(kCols, d - 2 * t0);
          to_bf16_pairs(row + 2 * t0, cols, row_pairs);
          const int pairs = std::min(kCols / 2, hd.pairs - t0);
          for (int t = 0; t < pairs; ++t) panel[(t0 + t) * kKeys + jj] = row_pairs[t];
        }
      }
    }
    for (int q = 0; q < hd.padded / 2; ++q) {
      std::uint32_t* out = vp + static_cast<std::size_t>(q) * hd.d_pad;
      const int j = 2 * q;
      const float* row0 = v + static_cast<std::size_t>(j) * ld;
      const float* row1 = row0 + ld;
      for (int c = 0; c < hd.d_pad; c += 16) {
        const __mmask16 m = lanes_below(d - c);
        const __m512 x0 = j < args.seq_len ? _mm512_maskz_loadu_ps(m, row0 + c) : _mm512_setzero_ps();
        const __m512 x1 =
            j + 1 < args.seq_len ? _mm512_maskz_loadu_ps(m, row1 + c) : _mm512_setzero_ps();
        _mm512_storeu_si512(out + c, bf16_column_pairs(x0, x1));
      }
    }
    for (int block = 0; block < args.num_queries; block += kRowBlock) {
      const int rows = std::min(kRowBlock, args.num_queries - block);
      // 2. The block's query rows in pairs of columns, then its scores.
      for (int r = 0; r < rows; ++r) {
        const float* qrow = args.q + static_cast<std::size_t>(block + r) * args.ld_q + h * d;
        to_bf16_pairs(qrow, d, qb + r * hd.pairs);
      }
      const int keys_begin = attended_keys(args, args.query_position + block).begin;
      const int keys_end = attended_keys(args, args.query_position + block + rows - 1).end;
      const int panels_begin = keys_begin / kKeys * kKeys;
      const int panels_end = (keys_end + kKeys - 1) / kKeys * kKeys;
      for (int r = 0; r < rows; r += kMr)
        scores_strip_of(std::min(kMr, rows - r), hd, r, panels_begin, panels_end,
                        scores + static_cast<std::size_t>(r) * padded);
      // 3. Softmax in fp32, the weights of the block's key pairs in bf16.
      const int pair_begin = keys_begin / 2;
      const int pair_end = (keys_end + 1) / 2;
      for (int r = 0; r < rows; ++r) {
        float* s = scores + static_cast<std::size_t>(r) * padded;
        if (args.window > 0) {
          const KeyRange own = attended_keys(args, args.query_position + block + r);
          std::fill(s, s + own.begin, -INFINITY);
          std::fill(s + own.end, s + padded, -INFINITY);
        }
        inv_sum[r] = x86::softmax_row(s, args.seq_len, hd.padded);
        std::uint32_t* p = pb + static_cast<std::size_t>(r) * (padded / 2);
        // Whole 32-key chunks around the block's pairs (every score of the
        // row is set by now); only [pair_begin, pair_end) is read.
        const int from = 2 * pair_begin / kKeys * kKeys;
        to_bf16_pairs(s + from, 2 * pair_end - from, p + from / 2);
      }
      float* o = args.out + static_cast<std::size_t>(block) * args.ld_out + h * d;
      for (int r = 0; r < rows; r += kMr)
        values_strip_of(std::min(kMr, rows - r), hd, pb + static_cast<std::size_t>(r) * (padded / 2),
                        pair_begin, pair_end, inv_sum + r,
                        o + static_cast<std::size_t>(r) * args.ld_out, args.ld_out);
    }
  }
}

}  // namespace crossrank::kernels::avx512bf16
