// Reference int8 GEMM (qs8: symmetric signed 8-bit) and the shared
// quantisers. W stays as quantised ([n][k] int8); each row of A is quantised
// in blocks, each block's dot product is summed exactly in int32, then
// dequantised and passed through the same epilogue as the fp32 reference.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels {

float quantize_row_s8(const float* x, int k, std::int8_t* q) {
  float max_abs = 0.f;
  for (int p = 0; p < k; ++p) max_abs = std::max(max_abs, std::fabs(x[p]));
  // x * (127 / max|x|) is at most 127 * (1 + 2u) in magnitude, which rounds
  // to 127, so no clamp is needed and -128 never appears.
  const float inverse = max_abs > 0.f ? 127.f / max_abs : 0.f;
  for (int p = 0; p < k; ++p) q[p] = static_cast<std::int8_t>(std::nearbyint(x[p] * inverse));
  return max_abs / 127.f;
}

void quantize_blocks_s8(const float* x, int k, std::int8_t* q, float* block_scales) {
  for (int b = 0; b * kQuantBlock < k; ++b) {
    const int begin = b * kQuantBlock;
    block_scales[b] = quantize_row_s8(x + begin, std::min(kQuantBlock, k - begin), q + begin);
  }
}

namespace ref {

void qgemm_pack(const std::int8_t* q, const float* scales, int n, int k, PackedWeights* out) {
  out->n = n;
  out->k = k;
  out->data.clear();
  out->qdata.assign(q, q + static_cast<std::size_t>(n) * k);
  out->scales.assign(scales, scales + n);
  out->packed_for = kQGemmName;
}

void qgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  const int k = args.w->k;
  const std::int8_t* w = args.w->qdata.data();
  const int blocks = (k + kQuantBlock - 1) / kQuantBlock;
  std::vector<std::int8_t> qa(static_cast<std::size_t>(k));
  std::vector<float> block_scales(static_cast<std::size_t>(blocks));
  for (int i = row_begin; i < row_end; ++i) {
    quantize_blocks_s8(args.a + static_cast<std::size_t>(i) * args.lda, k, qa.data(),
                       block_scales.data());
    float* c = args.c + static_cast<std::size_t>(i) * args.ldc;
    for (int j = col_begin; j < col_end; ++j) {
      const std::int8_t* wj = w + static_cast<std::size_t>(j) * k;
      float sum = 0.f;
      for (int b = 0; b < blocks; ++b) {
        std::int32_t dot = 0;  // at most 127 * 127 * kQuantBlock in magnitude
        for (int p = b * kQuantBlock; p < std::min(k, (b + 1) * kQuantBlock); ++p)
          dot += static_cast<std::int32_t>(qa[p]) * wj[p];
        sum += static_cast<float>(dot) * block_scales[b];
      }
      c[j] = apply_epilogue(args, i, j, sum * args.w->scales[j]);
    }
  }
}

}  // namespace ref
}  // namespace crossrank::kernels
