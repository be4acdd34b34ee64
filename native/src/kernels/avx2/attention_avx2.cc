// Attention for one sequence, per head, AVX2+FMA, as two small GEMMs with
// a softmax between them, both on the register-blocked 6x16 scheme of the
// linear layers (f32_gemm_6x16): 12 accumulators, two loads and six
// broadcasts per twelve FMAs.
//
//   1. K_h is packed transposed into panels of 16 keys (head_dim rows of 16
//      floats each, zero past seq_len), so S = Q_h K_h^T reads contiguous
//      16-wide rows per step of head_dim.
//   2. Query rows go in blocks of kRowBlock: their scores S (kRowBlock x
//      padded seq_len, in L1/L2) are computed, then each row's max is
//      subtracted and exp taken; padding columns are set to -inf first so
//      they weigh 0.
//   3. O = P V_h reads V_h's rows in place from the fused QKV output (16
//      contiguous floats per key) and scales each output row by 1 / sum P
//      in the epilogue.
//
// An earlier kernel built each output row on its own (one query row of
// scores, then sum_j p_j v_j): one load per FMA in the weighted sum and
// no reuse of K or V across rows. It took 16 % of the model's time for
// 4.5 % of its FLOPs; this one reuses every load of K and V six times.
//
// Scratch (see attention_scratch_floats): packed K (head_dim x padded),
// then kRowBlock rows of padded scores.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "kernels/x86/softmax_row.h"
#include "kernels/x86/vmath.h"

namespace crossrank::kernels::avx2 {
namespace {

using x86::kMaskTable;
using x86::softmax_row;

constexpr int kMr = 6;
constexpr int kNr = 16;
constexpr int kRowBlock = 48;  // eight strips of six rows
static_assert(kRowBlock % kMr == 0, "a row block is whole strips");

int padded_length(int seq_len) { return (seq_len + kNr - 1) / kNr * kNr; }

// kp[panel][t][16] = k[16 panel + jj][t], zero past seq_len.
void pack_keys(const float* k, std::size_t ld, int seq_len, int head_dim, float* kp) {
  for (int p0 = 0; p0 < seq_len; p0 += kNr) {
    float* panel = kp + static_cast<std::size_t>(p0) * head_dim;
    const int keys = std::min(kNr, seq_len - p0);
    for (int jj = 0; jj < keys; ++jj) {
      const float* row = k + static_cast<std::size_t>(p0 + jj) * ld;
      for (int t = 0; t < head_dim; ++t) panel[t * kNr + jj] = row[t];
    }
    for (int t = 0; t < head_dim; ++t) {
      std::fill(panel + t * kNr + keys, panel + (t + 1) * kNr, 0.f);
    }
  }
}

// s[r][0, 16) = scale * q[r] . panel columns, for MR query rows.
template <int MR>
void scores_tile(const float* q, std::size_t ld_q, const float* panel, int head_dim,
                 __m256 scale, float* s, std::size_t lds) {
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int t = 0; t < head_dim; ++t, panel += kNr) {
    const __m256 b0 = _mm256_loadu_ps(panel);
    const __m256 b1 = _mm256_loadu_ps(panel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(q + r * ld_q + t);
      acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(s + r * lds, _mm256_mul_ps(acc0[r], scale));
    _mm256_storeu_ps(s + r * lds + 8, _mm256_mul_ps(acc1[r], scale));
  }
}

// o[r][0, width) = inv_sum[r] * sum_j p[r][j] v[j][0, width), for MR rows;
// width <= 16, loads and stores masked below 16.
template <int MR, bool kFull>
void weighted_values_tile(const float* p, std::size_t ldp, const float* v, std::size_t ldv,
                          int seq_len, int width, const float* inv_sum, float* o,
                          std::size_t ldo) {
  __m256i m0 = _mm256_setzero_si256(), m1 = m0;
  if (!kFull) {
    m0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 16 - width));
    m1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 24 - width));
  }
  auto load = [&](const float* x, __m256i m) {
    return kFull ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, m);
  };
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int j = 0; j < seq_len; ++j, v += ldv) {
    const __m256 b0 = load(v, m0);
    const __m256 b1 = load(v + 8, m1);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(p + r * ldp + j);
      acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    const __m256 scale = _mm256_broadcast_ss(inv_sum + r);
    float* out = o + r * ldo;
    if (kFull) {
      _mm256_storeu_ps(out, _mm256_mul_ps(acc0[r], scale));
      _mm256_storeu_ps(out + 8, _mm256_mul_ps(acc1[r], scale));
    } else {
      _mm256_maskstore_ps(out, m0, _mm256_mul_ps(acc0[r], scale));
      _mm256_maskstore_ps(out + 8, m1, _mm256_mul_ps(acc1[r], scale));
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
  __m256 scale;
};

// Scores, softmax and output for MR query rows starting at `row` (relative
// to the block whose scores start at s).
template <int MR>
void scores_strip(const HeadView& hv, int row, float* s) {
  const float* q = hv.q + static_cast<std::size_t>(row) * hv.ld_q;
  for (int p0 = 0; p0 < hv.padded; p0 += kNr) {
    scores_tile<MR>(q, hv.ld_q, hv.kp + static_cast<std::size_t>(p0) * hv.head_dim,
                    hv.head_dim, hv.scale, s + p0, hv.padded);
  }
}

template <int MR>
void values_strip(const HeadView& hv, const float* p, const float* inv_sum, float* o,
                  std::size_t ldo) {
  for (int c = 0; c < hv.head_dim; c += kNr) {
    const int width = std::min(kNr, hv.head_dim - c);
    if (width == kNr) {
      weighted_values_tile<MR, true>(p, hv.padded, hv.v + c, hv.ld_qkv, hv.seq_len, width,
                                     inv_sum, o + c, ldo);
    } else {
      weighted_values_tile<MR, false>(p, hv.padded, hv.v + c, hv.ld_qkv, hv.seq_len, width,
                                      inv_sum, o + c, ldo);
    }
  }
}

template <template <int> class Op, typename... Args>
void by_rows(int rows, Args&&... args) {
  switch (rows) {
    case 6: Op<6>::run(args...); break;
    case 5: Op<5>::run(args...); break;
    case 4: Op<4>::run(args...); break;
    case 3: Op<3>::run(args...); break;
    case 2: Op<2>::run(args...); break;
    default: Op<1>::run(args...); break;
  }
}

template <int MR>
struct ScoresStrip {
  static void run(const HeadView& hv, int row, float* s) { scores_strip<MR>(hv, row, s); }
};
template <int MR>
struct ValuesStrip {
  static void run(const HeadView& hv, const float* p, const float* inv_sum, float* o,
                  std::size_t ldo) {
    values_strip<MR>(hv, p, inv_sum, o, ldo);
  }
};

}  // namespace

void attention_heads(const AttentionArgs& args, int head_begin, int head_end) {
  const int d = args.head_dim;
  const int hidden = args.num_heads * d;
  HeadView hv;
  hv.ld_q = args.ld_q;
  hv.ld_qkv = args.ld_qkv;
  hv.seq_len = args.seq_len;
  hv.padded = padded_length(args.seq_len);
  hv.head_dim = d;
  hv.scale = _mm256_set1_ps(args.scale);
  float* kp = args.scratch;
  float* scores = kp + static_cast<std::size_t>(d) * hv.padded;
  hv.kp = kp;
  alignas(32) float inv_sum[kRowBlock];

  for (int h = head_begin; h < head_end; ++h) {
    hv.q = args.q + h * d;
    hv.v = args.qkv + 2 * hidden + h * d;
    pack_keys(args.qkv + hidden + h * d, args.ld_qkv, args.seq_len, d, kp);
    for (int block = 0; block < args.num_queries; block += kRowBlock) {
      const int rows = std::min(kRowBlock, args.num_queries - block);
      for (int r = 0; r < rows; r += kMr) {
        by_rows<ScoresStrip>(std::min(kMr, rows - r), hv, block + r,
                             scores + static_cast<std::size_t>(r) * hv.padded);
      }
      for (int r = 0; r < rows; ++r) {
        inv_sum[r] = softmax_row(scores + static_cast<std::size_t>(r) * hv.padded, args.seq_len,
                                 hv.padded);
      }
      float* o = args.out + static_cast<std::size_t>(block) * args.ld_out + h * d;
      for (int r = 0; r < rows; r += kMr) {
        by_rows<ValuesStrip>(std::min(kMr, rows - r), hv,
                             scores + static_cast<std::size_t>(r) * hv.padded, inv_sum + r,
                             o + static_cast<std::size_t>(r) * args.ld_out, args.ld_out);
      }
    }
  }
}

void attention(const AttentionArgs& args) { attention_heads(args, 0, args.num_heads); }

}  // namespace crossrank::kernels::avx2
