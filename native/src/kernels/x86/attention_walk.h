// The one x86 attention walk, for one sequence, per head, as two small GEMMs
// with a softmax between them, on register tiles of the fp32 GEMM's shape
// (kMr query rows x two vectors): templated on a vector-traits type V, so
// that attention_avx2.cc (6 x 16 on ymm) and attention_avx512.cc (8 x 32 on
// zmm) only say how wide a vector is and how to load, mask and store one.
//
//   1. K_h is packed transposed into panels of V::kKeys keys (head_dim rows
//      of kKeys floats each, zero past seq_len), so S = Q_h K_h^T reads
//      contiguous kKeys-wide rows per step of head_dim.
//   2. Query rows go in blocks of kRowBlock: their scores S (kRowBlock x
//      padded seq_len, in L1/L2) are computed, then each row's max is
//      subtracted and exp taken (softmax_row.h); padding columns are set to
//      -inf first so they weigh 0.
//   3. O = P V_h reads V_h's rows in place from the fused QKV output and
//      scales each output row by 1 / sum P in the epilogue.
//
// With a sliding window (AttentionArgs::window), a row block computes the
// scores of the panels its rows' windows cover, sets every score outside a
// row's own window to -inf (weight 0, as padding), and sums P V over the
// block's keys only: the keys it skips would add exact zeros, so each
// output is the chain the whole-sequence walk would compute.
//
// Every score is the same chain of fused multiply-adds over the head's
// columns in order, times the scale; the softmax is the same code whatever
// V (the extra padding columns of wider panels add exact zeros to the sum);
// every output is the same chain over the keys in order, times the same
// 1 / sum. Only the tiles differ, so every V gives the same bits (the kernel
// tests check AVX-512 against AVX2).
//
// An earlier kernel built each output row on its own (one query row of
// scores, then sum_j p_j v_j): one load per FMA in the weighted sum and no
// reuse of K or V across rows. It took 16 % of the model's time for 4.5 % of
// its FLOPs; this one reuses every load of K and V kMr times.
//
// Scratch (see attention_scratch_floats): packed K (head_dim x padded),
// then kRowBlock rows of padded scores.
//
// V provides: Vec, Mask, kWidth (floats per Vec), kMr (rows per strip),
// kPrefetchKeys (how many keys ahead pack_keys fetches K's rows; 0: none),
// kAlwaysMasked (true: full tiles use masked loads and stores too),
// zero(), load(p), broadcast(p), fmadd(a, b, c), mul(a, b), store(p, v),
// set1(x), mask(n) (lanes below n, n may be <= 0 or >= kWidth),
// load(p, mask), store(p, mask, v).
//
// Included by kernel files built with different ISA flags: everything here
// has internal linkage (an anonymous namespace or a template on a file's own
// V), so each file keeps its own copy, built with its own flags.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/kernels.h"
#include "kernels/x86/softmax_row.h"

namespace crossrank::kernels::x86 {
namespace {

template <class V>
struct AttentionWalk {
  using Vec = typename V::Vec;
  static constexpr int kMr = V::kMr;
  static constexpr int kKeys = 2 * V::kWidth;  // keys per panel of packed K: two vectors
  static constexpr int kCols = 2 * V::kWidth;  // output columns per P V tile: two vectors
  static constexpr int kRowBlock = 48;
  static_assert(kRowBlock % kMr == 0, "a row block is whole strips");

  static int padded_length(int seq_len) { return (seq_len + kKeys - 1) / kKeys * kKeys; }

  // kp[panel][t][kKeys] = k[kKeys panel + jj][t], zero past seq_len.
  static void pack_keys(const float* k, std::size_t ld, int seq_len, int head_dim, float* kp) {
    for (int p0 = 0; p0 < seq_len; p0 += kKeys) {
      float* panel = kp + static_cast<std::size_t>(p0) * head_dim;
      const int keys = std::min(kKeys, seq_len - p0);
      for (int jj = 0; jj < keys; ++jj) {
        const float* row = k + static_cast<std::size_t>(p0 + jj) * ld;
        if constexpr (V::kPrefetchKeys > 0) {
          // The rows of K come from the QKV GEMM's output, out of cache.
          if (p0 + jj + V::kPrefetchKeys < seq_len) {
            const char* ahead = reinterpret_cast<const char*>(row + V::kPrefetchKeys * ld);
            for (int t = 0; t < head_dim; t += 16) {
              _mm_prefetch(ahead + t * sizeof(float), _MM_HINT_T0);
            }
            _mm_prefetch(ahead + (head_dim - 1) * sizeof(float), _MM_HINT_T0);
          }
        }
        for (int t = 0; t < head_dim; ++t) panel[t * kKeys + jj] = row[t];
      }
      for (int t = 0; t < head_dim; ++t) {
        std::fill(panel + t * kKeys + keys, panel + (t + 1) * kKeys, 0.f);
      }
    }
  }

  // s[r][0, kKeys) = scale * q[r] . panel columns, for MR query rows.
  template <int MR>
  static void scores_tile(const float* q, std::size_t ld_q, const float* panel, int head_dim,
                          Vec scale, float* s, std::size_t lds) {
    Vec acc0[MR], acc1[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = V::zero();
#pragma GCC unroll 2
    for (int t = 0; t < head_dim; ++t, panel += kKeys) {
      const Vec b0 = V::load(panel);
      const Vec b1 = V::load(panel + V::kWidth);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const Vec a = V::broadcast(q + r * ld_q + t);
        acc0[r] = V::fmadd(a, b0, acc0[r]);
        acc1[r] = V::fmadd(a, b1, acc1[r]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      V::store(s + r * lds, V::mul(acc0[r], scale));
      V::store(s + r * lds + V::kWidth, V::mul(acc1[r], scale));
    }
  }

  // o[r][0, width) = inv_sum[r] * sum_j p[r][j] v[j][0, width), for MR rows;
  // width <= kCols. kMasked: loads and stores masked below width.
  template <int MR, bool kMasked>
  static void weighted_values_tile(const float* p, std::size_t ldp, const float* v,
                                   std::size_t ldv, int seq_len, int width,
                                   const float* inv_sum, float* o, std::size_t ldo) {
    typename V::Mask m0{}, m1{};
    if (kMasked) {
      m0 = V::mask(width);
      m1 = V::mask(width - V::kWidth);
    }
    auto load = [&](const float* x, typename V::Mask m) {
      return kMasked ? V::load(x, m) : V::load(x);
    };
    Vec acc0[MR], acc1[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = V::zero();
#pragma GCC unroll 2
    for (int j = 0; j < seq_len; ++j, v += ldv) {
      const Vec b0 = load(v, m0);
      const Vec b1 = load(v + V::kWidth, m1);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const Vec a = V::broadcast(p + r * ldp + j);
        acc0[r] = V::fmadd(a, b0, acc0[r]);
        acc1[r] = V::fmadd(a, b1, acc1[r]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const Vec scale = V::broadcast(inv_sum + r);
      float* out = o + r * ldo;
      if (kMasked) {
        V::store(out, m0, V::mul(acc0[r], scale));
        V::store(out + V::kWidth, m1, V::mul(acc1[r], scale));
      } else {
        V::store(out, V::mul(acc0[r], scale));
        V::store(out + V::kWidth, V::mul(acc1[r], scale));
      }
    }
  }

  struct HeadView {
    const float* q;  // query row 0 of this head
    std::size_t ld_q;
    const float* v;  // key/value row 0 of this head's V
    std::size_t ld_qkv;
    const float* kp;  // packed K
    int seq_len;
    int padded;
    int head_dim;
    Vec scale;
  };

  // Scores of MR query rows starting at `row` with the keys of the panels
  // from key `begin` (a multiple of kKeys) to `end`, into s (row stride
  // padded).
  template <int MR>
  static void scores_strip(const HeadView& hv, int row, int begin, int end, float* s) {
    const float* q = hv.q + static_cast<std::size_t>(row) * hv.ld_q;
    for (int p0 = begin; p0 < end; p0 += kKeys) {
      scores_tile<MR>(q, hv.ld_q, hv.kp + static_cast<std::size_t>(p0) * hv.head_dim,
                      hv.head_dim, hv.scale, s + p0, hv.padded);
    }
  }

  // Outputs of MR rows from their weights p over keys [begin, end) (every
  // other key weighs 0).
  template <int MR>
  static void values_strip(const HeadView& hv, const float* p, int begin, int end,
                           const float* inv_sum, float* o, std::size_t ldo) {
    const float* v = hv.v + static_cast<std::size_t>(begin) * hv.ld_qkv;
    for (int c = 0; c < hv.head_dim; c += kCols) {
      const int width = std::min(kCols, hv.head_dim - c);
      if (!V::kAlwaysMasked && width == kCols) {
        weighted_values_tile<MR, false>(p + begin, hv.padded, v + c, hv.ld_qkv, end - begin,
                                        width, inv_sum, o + c, ldo);
      } else {
        weighted_values_tile<MR, true>(p + begin, hv.padded, v + c, hv.ld_qkv, end - begin,
                                       width, inv_sum, o + c, ldo);
      }
    }
  }

  // scores_strip<rows> or values_strip<rows> for rows in [1, MR].
  template <int MR = kMr>
  static void scores_strip_of(int rows, const HeadView& hv, int row, int begin, int end,
                              float* s) {
    if constexpr (MR == 1) {
      scores_strip<1>(hv, row, begin, end, s);
    } else if (rows == MR) {
      scores_strip<MR>(hv, row, begin, end, s);
    } else {
      scores_strip_of<MR - 1>(rows, hv, row, begin, end, s);
    }
  }
  template <int MR = kMr>
  static void values_strip_of(int rows, const HeadView& hv, const float* p, int begin, int end,
                              const float* inv_sum, float* o, std::size_t ldo) {
    if constexpr (MR == 1) {
      values_strip<1>(hv, p, begin, end, inv_sum, o, ldo);
    } else if (rows == MR) {
      values_strip<MR>(hv, p, begin, end, inv_sum, o, ldo);
    } else {
      values_strip_of<MR - 1>(rows, hv, p, begin, end, inv_sum, o, ldo);
    }
  }

  // KernelTable::attention_heads.
  static void heads(const AttentionArgs& args, int head_begin, int head_end) {
    const int d = args.head_dim;
    const int hidden = args.num_heads * d;
    HeadView hv;
    hv.ld_q = args.ld_q;
    hv.ld_qkv = args.ld_qkv;
    hv.seq_len = args.seq_len;
    hv.padded = padded_length(args.seq_len);
    hv.head_dim = d;
    hv.scale = V::set1(args.scale);
    float* kp = args.scratch;
    float* scores = kp + static_cast<std::size_t>(d) * hv.padded;
    hv.kp = kp;
    alignas(64) float inv_sum[kRowBlock];

    for (int h = head_begin; h < head_end; ++h) {
      hv.q = args.q + h * d;
      hv.v = args.qkv + 2 * hidden + h * d;
      pack_keys(args.qkv + hidden + h * d, args.ld_qkv, args.seq_len, d, kp);
      for (int block = 0; block < args.num_queries; block += kRowBlock) {
        const int rows = std::min(kRowBlock, args.num_queries - block);
        // The keys any row of the block attends to (all of them without a
        // window); scores are computed for the panels that hold them.
        const int keys_begin = attended_keys(args, args.query_position + block).begin;
        const int keys_end = attended_keys(args, args.query_position + block + rows - 1).end;
        const int panels_begin = keys_begin / kKeys * kKeys;
        const int panels_end = padded_length(keys_end);
        for (int r = 0; r < rows; r += kMr) {
          scores_strip_of(std::min(kMr, rows - r), hv, block + r, panels_begin, panels_end,
                          scores + static_cast<std::size_t>(r) * hv.padded);
        }
        for (int r = 0; r < rows; ++r) {
          float* s = scores + static_cast<std::size_t>(r) * hv.padded;
          if (args.window > 0) {
            // Keys outside the row's window weigh 0, as padding does.
            const KeyRange own = attended_keys(args, args.query_position + block + r);
            std::fill(s, s + own.begin, -INFINITY);
            std::fill(s + own.end, s + hv.padded, -INFINITY);
          }
          inv_sum[r] = softmax_row(s, args.seq_len, hv.padded);
        }
        float* o = args.out + static_cast<std::size_t>(block) * args.ld_out + h * d;
        for (int r = 0; r < rows; r += kMr) {
          values_strip_of(std::min(kMr, rows - r), hv,
                          scores + static_cast<std::size_t>(r) * hv.padded, keys_begin,
                          keys_end, inv_sum + r, o + static_cast<std::size_t>(r) * args.ld_out,
                          args.ld_out);
        }
      }
    }
  }
};

}  // namespace
}  // namespace crossrank::kernels::x86
