// Attention for one sequence, per head, NEON, one query row at a time (the
// first AVX2 kernel's scheme; the AVX2 kernel now runs 6-row blocks as two
// small GEMMs, worth doing here once it can be timed on an arm64 machine
// rather than under qemu). For each head, K is first transposed into
// scratch (head_dim rows of seq_len padded to 16, zero-filled), so the
// scores of one query row are vector FMAs over contiguous memory:
// s[j..j+4) += q[t] * kt[t][j..j+4). Then the row max is subtracted, exp
// taken, and the output row built as sum_j p_j v_j over contiguous v rows,
// scaled by 1 / sum p at the end.
//
// Scratch (see attention_scratch_floats): kt = head_dim x padded floats,
// then one row of `padded` scores.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "kernels/neon/vmath.h"

namespace crossrank::kernels::neon {
namespace {

constexpr int kPad = 16;

// s[0, padded) = scale * q . kt[:, j]; eight column vectors at a time keep
// eight FMA chains in flight, then four.
void scores_row(const float* q, const float* kt, int head_dim, int padded, float scale,
                float* s) {
  int j = 0;
  for (; j + 32 <= padded; j += 32) {
    float32x4_t acc[8];
    for (float32x4_t& v : acc) v = vdupq_n_f32(0.f);
    const float* col = kt + j;
    for (int t = 0; t < head_dim; ++t, col += padded) {
      const float qt = q[t];
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) acc[v] = vfmaq_n_f32(acc[v], vld1q_f32(col + 4 * v), qt);
    }
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) vst1q_f32(s + j + 4 * v, vmulq_n_f32(acc[v], scale));
  }
  for (; j < padded; j += 16) {  // padded is a multiple of 16
    float32x4_t acc[4];
    for (float32x4_t& v : acc) v = vdupq_n_f32(0.f);
    const float* col = kt + j;
    for (int t = 0; t < head_dim; ++t, col += padded) {
      const float qt = q[t];
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) acc[v] = vfmaq_n_f32(acc[v], vld1q_f32(col + 4 * v), qt);
    }
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) vst1q_f32(s + j + 4 * v, vmulq_n_f32(acc[v], scale));
  }
}

// o[0, d) = inv_sum * sum_j p[j] v[j * ld + (0, d)]. Sixteen columns at a
// time in four accumulators, then four columns with four rows of v in
// flight, then single columns (v rows are never read past column d).
void weighted_sum_v(const float* p, const float* v, std::size_t ld, int L, int d,
                    float inv_sum, float* o) {
  int c = 0;
  for (; c + 16 <= d; c += 16) {
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0;
    const float* vj = v + c;
    for (int j = 0; j < L; ++j, vj += ld) {
      const float pj = p[j];
      a0 = vfmaq_n_f32(a0, vld1q_f32(vj), pj);
      a1 = vfmaq_n_f32(a1, vld1q_f32(vj + 4), pj);
      a2 = vfmaq_n_f32(a2, vld1q_f32(vj + 8), pj);
      a3 = vfmaq_n_f32(a3, vld1q_f32(vj + 12), pj);
    }
    vst1q_f32(o + c, vmulq_n_f32(a0, inv_sum));
    vst1q_f32(o + c + 4, vmulq_n_f32(a1, inv_sum));
    vst1q_f32(o + c + 8, vmulq_n_f32(a2, inv_sum));
    vst1q_f32(o + c + 12, vmulq_n_f32(a3, inv_sum));
  }
  for (; c + 4 <= d; c += 4) {
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0;
    const float* vj = v + c;
    int j = 0;
    for (; j + 4 <= L; j += 4, vj += 4 * ld) {
      a0 = vfmaq_n_f32(a0, vld1q_f32(vj), p[j]);
      a1 = vfmaq_n_f32(a1, vld1q_f32(vj + ld), p[j + 1]);
      a2 = vfmaq_n_f32(a2, vld1q_f32(vj + 2 * ld), p[j + 2]);
      a3 = vfmaq_n_f32(a3, vld1q_f32(vj + 3 * ld), p[j + 3]);
    }
    for (; j < L; ++j, vj += ld) a0 = vfmaq_n_f32(a0, vld1q_f32(vj), p[j]);
    vst1q_f32(o + c, vmulq_n_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)), inv_sum));
  }
  for (; c < d; ++c) {
    float sum = 0.f;
    const float* vj = v + c;
    for (int j = 0; j < L; ++j, vj += ld) sum = std::fma(p[j], *vj, sum);
    o[c] = sum * inv_sum;
  }
}

}  // namespace

void attention_heads(const AttentionArgs& args, int head_begin, int head_end) {
  const int L = args.seq_len;
  const int d = args.head_dim;
  const int hidden = args.num_heads * d;
  const int padded = (L + kPad - 1) / kPad * kPad;
  const std::size_t ld = args.ld_qkv;
  float* kt = args.scratch;
  float* s = kt + static_cast<std::size_t>(d) * padded;

  for (int h = head_begin; h < head_end; ++h) {
    const float* q0 = args.q + h * d;
    const float* k0 = args.qkv + hidden + h * d;
    const float* v0 = args.qkv + 2 * hidden + h * d;
    for (int t = 0; t < d; ++t) {
      float* row = kt + static_cast<std::size_t>(t) * padded;
      for (int j = 0; j < L; ++j) row[j] = k0[j * ld + t];
      std::fill(row + L, row + padded, 0.f);
    }
    for (int i = 0; i < args.num_queries; ++i) {
      scores_row(q0 + static_cast<std::size_t>(i) * args.ld_q, kt, d, padded, args.scale, s);
      // Padding columns, and keys outside a sliding window, take no weight.
      std::fill(s + L, s + padded, -INFINITY);
      if (args.window > 0) {
        const KeyRange own = attended_keys(args, args.query_position + i);
        std::fill(s, s + own.begin, -INFINITY);
        std::fill(s + own.end, s + L, -INFINITY);
      }
      float32x4_t vmax = vdupq_n_f32(-INFINITY);
      for (int j = 0; j < padded; j += 4) vmax = vmaxq_f32(vmax, vld1q_f32(s + j));
      const float32x4_t row_max = vdupq_n_f32(vmaxvq_f32(vmax));
      float32x4_t vsum = vdupq_n_f32(0.f);
      for (int j = 0; j < padded; j += 4) {
        const float32x4_t p = exp_nonpositive_ps(vsubq_f32(vld1q_f32(s + j), row_max));
        vst1q_f32(s + j, p);
        vsum = vaddq_f32(vsum, p);
      }
      const float inv_sum = 1.f / vaddvq_f32(vsum);
      float* o = args.out + static_cast<std::size_t>(i) * args.ld_out + h * d;
      weighted_sum_v(s, v0, ld, L, d, inv_sum, o);
    }
  }
}

void attention(const AttentionArgs& args) { attention_heads(args, 0, args.num_heads); }

}  // namespace crossrank::kernels::neon
