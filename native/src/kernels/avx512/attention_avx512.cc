// Attention for one sequence, per head, with 512-bit vectors: the AVX2
// kernel's scheme (kernels/avx2/attention_avx2.cc: K packed transposed,
// S = Q K^T in row blocks, softmax, O = P V) on the 8x32 register tiles of
// the AVX-512 GEMM.
//
// Why, when Zen 4 runs a 512-bit FMA as two 256-bit halves: as in the GEMM
// (gemm_avx512.cc), the 6x16 AVX2 tiles issue a broadcast per two FMAs and
// are held by the front end; here each step is two loads, eight broadcasts
// and sixteen FMAs. In the int8 model, attention was the largest fp32 part
// (about a fifth of the cycles once the int8 GEMM was fast).
//
// Bit for bit the AVX2 kernel's outputs: every score is the same chain of
// fused multiply-adds over the head's columns in order, times the scale;
// the softmax is the same code (softmax_row.h; the extra padding columns
// add exact zeros to the sum); every output is the same chain over the keys
// in order, times the same 1 / sum. Only the tiles differ.
//
//   1. K_h is packed transposed into panels of 32 keys (head_dim rows of 32
//      floats, zero past seq_len); the rows of K are prefetched a few keys
//      ahead, since they come from the QKV GEMM's output, out of cache.
//   2. Query rows go in blocks of kRowBlock: their scores (kRowBlock x
//      padded seq_len), then softmax per row.
//   3. O = P V_h reads V_h's rows in place, 32 columns (two zmm) per tile,
//      masked past head_dim.
//
// Scratch (see attention_scratch_floats): packed K (head_dim x padded),
// then kRowBlock rows of padded scores.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "kernels/x86/softmax_row.h"

// GCC 12's AVX-512 headers build their cast and extract intrinsics on an
// "undefined" vector, which -Wmaybe-uninitialized reports at every use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512 {
namespace {

constexpr int kMr = 8;         // query rows per strip
constexpr int kKeys = 32;      // keys per panel of packed K: two zmm of scores
constexpr int kCols = 32;      // output columns per P V tile: two zmm
constexpr int kRowBlock = 48;  // six strips of eight
static_assert(kRowBlock % kMr == 0, "a row block is whole strips");
// How many keys ahead pack_keys fetches.
constexpr int kPrefetchKeys = 8;

int padded_length(int seq_len) { return (seq_len + kKeys - 1) / kKeys * kKeys; }

__mmask16 lane_mask(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>((1u << std::max(n, 0)) - 1);
}

// kp[panel][t][32] = k[32 panel + jj][t], zero past seq_len.
void pack_keys(const float* k, std::size_t ld, int seq_len, int head_dim, float* kp) {
  for (int p0 = 0; p0 < seq_len; p0 += kKeys) {
    float* panel = kp + static_cast<std::size_t>(p0) * head_dim;
    const int keys = std::min(kKeys, seq_len - p0);
    for (int jj = 0; jj < keys; ++jj) {
      const float* row = k + static_cast<std::size_t>(p0 + jj) * ld;
      if (p0 + jj + kPrefetchKeys < seq_len) {
        const char* ahead = reinterpret_cast<const char*>(row + kPrefetchKeys * ld);
        for (int t = 0; t < head_dim; t += 16) _mm_prefetch(ahead + t * sizeof(float), _MM_HINT_T0);
        _mm_prefetch(ahead + (head_dim - 1) * sizeof(float), _MM_HINT_T0);
      }
      for (int t = 0; t < head_dim; ++t) panel[t * kKeys + jj] = row[t];
    }
    for (int t = 0; t < head_dim; ++t) {
      std::fill(panel + t * kKeys + keys, panel + (t + 1) * kKeys, 0.f);
    }
  }
}

// s[r][0, 32) = scale * q[r] . panel columns, for MR query rows.
template <int MR>
void scores_tile(const float* q, std::size_t ld_q, const float* panel, int head_dim,
                 __m512 scale, float* s, std::size_t lds) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int t = 0; t < head_dim; ++t, panel += kKeys) {
    const __m512 b0 = _mm512_loadu_ps(panel);
    const __m512 b1 = _mm512_loadu_ps(panel + 16);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(q[r * ld_q + t]);
      acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(s + r * lds, _mm512_mul_ps(acc0[r], scale));
    _mm512_storeu_ps(s + r * lds + 16, _mm512_mul_ps(acc1[r], scale));
  }
}

// o[r][0, width) = inv_sum[r] * sum_j p[r][j] v[j][0, width), for MR rows;
// width <= 32, lanes past it masked (masked loads read nothing).
template <int MR>
void weighted_values_tile(const float* p, std::size_t ldp, const float* v, std::size_t ldv,
                          int seq_len, int width, const float* inv_sum, float* o,
                          std::size_t ldo) {
  const __mmask16 m0 = lane_mask(width), m1 = lane_mask(width - 16);
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int j = 0; j < seq_len; ++j, v += ldv) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, v);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, v + 16);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(p[r * ldp + j]);
      acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m512 scale = _mm512_set1_ps(inv_sum[r]);
    float* out = o + r * ldo;
    _mm512_mask_storeu_ps(out, m0, _mm512_mul_ps(acc0[r], scale));
    _mm512_mask_storeu_ps(out + 16, m1, _mm512_mul_ps(acc1[r], scale));
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
  __m512 scale;
};

template <int MR>
struct ScoresStrip {
  // Scores of MR query rows starting at `row`, into s (row stride padded).
  static void run(const HeadView& hv, int row, float* s) {
    const float* q = hv.q + static_cast<std::size_t>(row) * hv.ld_q;
    for (int p0 = 0; p0 < hv.padded; p0 += kKeys) {
      scores_tile<MR>(q, hv.ld_q, hv.kp + static_cast<std::size_t>(p0) * hv.head_dim,
                      hv.head_dim, hv.scale, s + p0, hv.padded);
    }
  }
};

template <int MR>
struct ValuesStrip {
  static void run(const HeadView& hv, const float* p, const float* inv_sum, float* o,
                  std::size_t ldo) {
    for (int c = 0; c < hv.head_dim; c += kCols) {
      weighted_values_tile<MR>(p, hv.padded, hv.v + c, hv.ld_qkv, hv.seq_len,
                               std::min(kCols, hv.head_dim - c), inv_sum, o + c, ldo);
    }
  }
};

template <template <int> class Op, typename... Args>
void by_rows(int rows, Args&&... args) {
  switch (rows) {
    case 8: Op<8>::run(args...); break;
    case 7: Op<7>::run(args...); break;
    case 6: Op<6>::run(args...); break;
    case 5: Op<5>::run(args...); break;
    case 4: Op<4>::run(args...); break;
    case 3: Op<3>::run(args...); break;
    case 2: Op<2>::run(args...); break;
    default: Op<1>::run(args...); break;
  }
}

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
  hv.scale = _mm512_set1_ps(args.scale);
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
      for (int r = 0; r < rows; r += kMr) {
        by_rows<ScoresStrip>(std::min(kMr, rows - r), hv, block + r,
                             scores + static_cast<std::size_t>(r) * hv.padded);
      }
      for (int r = 0; r < rows; ++r) {
        inv_sum[r] = x86::softmax_row(scores + static_cast<std::size_t>(r) * hv.padded,
                                       args.seq_len, hv.padded);
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

}  // namespace crossrank::kernels::avx512
