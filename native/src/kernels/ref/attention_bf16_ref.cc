// Reference attention on bf16 (KernelTable::attention_bf16_heads): one query
// row at a time, every rounding of the contract written out: Q, K, V and the
// softmax weights rounded to bf16, each sum taken pair by pair in
// vdpbf16ps's order (odd element first), and the softmax's exp and sum as
// the x86 kernels compute them (x86/softmax_row.h, x86/vmath.h), so that the
// AVX512-BF16 kernel (and an AMX one) must give these bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::ref {
namespace {

// Scalar model of x86::exp_nonpositive_ps, operation for operation (fused
// multiply-adds as std::fma, round-to-nearest-even as std::nearbyint).
float exp_nonpositive(float x) {
  if (x < -87.f) return 0.f;  // also -inf
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = std::fma(-n, 0.693359375f, x);
  r = std::fma(-n, -2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r + 1.f);
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<int>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

// x86::softmax_row on s[0, n) (n a multiple of 8): exp(s - max) in place and
// 1 / sum, the sum in eight lanes (lane j % 8, in order of j), then the
// lanes as hsum_ps adds them: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
float softmax_row(float* s, int n) {
  float max_score = -INFINITY;
  for (int j = 0; j < n; ++j) max_score = std::max(max_score, s[j]);
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < n; ++j) {
    s[j] = exp_nonpositive(s[j] - max_score);
    lane[j % 8] += s[j];
  }
  const float sum = ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
                    ((lane[1] + lane[5]) + (lane[3] + lane[7]));
  return 1.f / sum;
}

// a[i] rounded to bf16 for i < n, 0 up to n_even.
void rounded(const float* a, int n, int n_even, float* out) {
  for (int i = 0; i < n; ++i) out[i] = round_to_bf16(a[i]);
  std::fill(out + n, out + n_even, 0.f);
}

// The bgemm sum of two rounded vectors of k_even values: odd element of
// each pair first (as bf16_pair_dot; one statement per step on purpose).
float pair_dot(const float* a, const float* b, int k_even) {
  float s = 0.f;
  for (int q = 0; q < k_even; ++q) {
    const int p = q ^ 1;
    s += a[p] * b[p];
  }
  return s;
}

// The contract with `dot` as the sum of two rounded vectors.
template <class Dot>
void attention_bf16_with(const AttentionArgs& args, int head_begin, int head_end, Dot dot) {
  const int hidden = args.num_heads * args.head_dim;
  const int d = args.head_dim;
  const int d_even = d + d % 2;
  const int padded = (args.seq_len + 31) / 32 * 32;
  const int keys_even = args.seq_len + args.seq_len % 2;
  std::vector<float> q(d_even), k(static_cast<std::size_t>(args.seq_len) * d_even);
  std::vector<float> v(static_cast<std::size_t>(d) * keys_even);  // v[t][j]: one column per row
  std::vector<float> scores(padded), p(keys_even);
  for (int h = head_begin; h < head_end; ++h) {
    for (int j = 0; j < args.seq_len; ++j) {
      const float* row = args.qkv + static_cast<std::size_t>(j) * args.ld_qkv + h * d;
      rounded(row + hidden, d, d_even, &k[static_cast<std::size_t>(j) * d_even]);
      for (int t = 0; t < d; ++t)
        v[static_cast<std::size_t>(t) * keys_even + j] = round_to_bf16(row[2 * hidden + t]);
    }
    if (keys_even > args.seq_len)
      for (int t = 0; t < d; ++t) v[static_cast<std::size_t>(t) * keys_even + args.seq_len] = 0.f;
    for (int i = 0; i < args.num_queries; ++i) {
      rounded(args.q + static_cast<std::size_t>(i) * args.ld_q + h * d, d, d_even, q.data());
      const KeyRange keys = attended_keys(args, args.query_position + i);
      std::fill(scores.begin(), scores.end(), -INFINITY);
      for (int j = keys.begin; j < keys.end; ++j)
        scores[j] = dot(q.data(), &k[static_cast<std::size_t>(j) * d_even], d_even) * args.scale;
      const float inv_sum = softmax_row(scores.data(), padded);
      std::fill(p.begin(), p.end(), 0.f);
      for (int j = 0; j < args.seq_len; ++j) p[j] = round_to_bf16(scores[j]);
      float* o = args.out + static_cast<std::size_t>(i) * args.ld_out + h * d;
      for (int t = 0; t < d; ++t)
        o[t] = dot(p.data(), &v[static_cast<std::size_t>(t) * keys_even], keys_even) * inv_sum;
    }
  }
}

}  // namespace

void attention_bf16_heads(const AttentionArgs& args, int head_begin, int head_end) {
  attention_bf16_with(args, head_begin, head_end, pair_dot);
}

void attention_bf16_heads_amx(const AttentionArgs& args, int head_begin, int head_end) {
  attention_bf16_with(args, head_begin, head_end, float_pair_dot_amx);
}

}  // namespace crossrank::kernels::ref
