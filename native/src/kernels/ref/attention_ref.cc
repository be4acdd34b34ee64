// Reference attention: one query row at a time, over the keys it attends to
// (all, or its sliding window). Scratch holds that row's seq_len scores; the
// output row accumulates p_j * v_j and is scaled by 1 / sum(p) at the end.
#include <algorithm>
#include <cmath>

#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels {

std::size_t attention_scratch_floats(int seq_len, int head_dim) {
  // Enough for every attention kernel in every table: the reference uses
  // seq_len floats; the AVX2, AVX-512 and NEON kernels keep one head's K
  // packed (head_dim x seq_len padded to 16 keys, 32 for AVX-512) plus up
  // to 48 rows of scores; the bf16 attention keeps K and V in bf16 (head_dim
  // padded to 32 for V: at most head_dim + 16 floats per key together), 48
  // rows of scores and their bf16 weights (24 floats per key), 48 query rows
  // in bf16 and 64-byte alignment of each part; the AMX one less (K and V in
  // tiles, head_dim padded to 32 and 16: at most head_dim + 23 floats per
  // key; 16 rows of scores and weights, 24 floats per key; 16 query rows).
  const std::size_t padded = (static_cast<std::size_t>(seq_len) + 31) / 32 * 32;
  const auto d = static_cast<std::size_t>(head_dim);
  return padded * (d + 16 + 48 + 24) + 24 * (d + 2) + 128;
}

namespace ref {

void attention_heads(const AttentionArgs& args, int head_begin, int head_end) {
  const int hidden = args.num_heads * args.head_dim;
  const int d = args.head_dim;
  float* scores = args.scratch;
  for (int h = head_begin; h < head_end; ++h) {
    for (int i = 0; i < args.num_queries; ++i) {
      const float* q = args.q + static_cast<std::size_t>(i) * args.ld_q + h * d;
      const KeyRange keys = attended_keys(args, args.query_position + i);
      float max_score = -INFINITY;
      for (int j = keys.begin; j < keys.end; ++j) {
        const float* kj =
            args.qkv + static_cast<std::size_t>(j) * args.ld_qkv + hidden + h * d;
        double dot = 0;
        for (int t = 0; t < d; ++t) dot += static_cast<double>(q[t]) * kj[t];
        scores[j] = static_cast<float>(dot * args.scale);
        max_score = std::max(max_score, scores[j]);
      }
      double sum = 0;
      for (int j = keys.begin; j < keys.end; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      float* o = args.out + static_cast<std::size_t>(i) * args.ld_out + h * d;
      std::fill(o, o + d, 0.f);
      for (int j = keys.begin; j < keys.end; ++j) {
        const float* vj =
            args.qkv + static_cast<std::size_t>(j) * args.ld_qkv + 2 * hidden + h * d;
        for (int t = 0; t < d; ++t) o[t] += scores[j] * vj[t];
      }
      const float inv_sum = static_cast<float>(1.0 / sum);
      for (int t = 0; t < d; ++t) o[t] *= inv_sum;
    }
  }
}

void attention(const AttentionArgs& args) { attention_heads(args, 0, args.num_heads); }

}  // namespace ref
}  // namespace crossrank::kernels
