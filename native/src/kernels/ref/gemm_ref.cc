// Reference GEMM: W kept as PyTorch stores it ([n][k]), each output a dot
// product of a row of A with a row of W over contiguous k, accumulated in
// double so the reference is closer to exact than any float kernel.
#include <algorithm>

#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::ref {

void gemm_pack(const float* w, int n, int k, PackedWeights* out) {
  out->n = n;
  out->k = k;
  out->data.assign(w, w + static_cast<std::size_t>(n) * k);
  out->packed_for = kGemmName;
}

float apply_epilogue(const GemmArgs& args, int row, int col, float v) {
  if (args.epilogue == Epilogue::kNone) return v;
  v += args.bias[col];
  if (args.epilogue == Epilogue::kBiasGelu) return gelu_erf_scalar(v);
  if (args.epilogue == Epilogue::kBiasResidual)
    v += args.residual[static_cast<std::size_t>(row) * args.ldr + col];
  return v;
}

void gemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  const int k = args.w->k;
  const float* w = args.w->data.data();
  for (int i = row_begin; i < row_end; ++i) {
    const float* a = args.a + static_cast<std::size_t>(i) * args.lda;
    float* c = args.c + static_cast<std::size_t>(i) * args.ldc;
    int j = col_begin;
    // Four columns at a time: four independent sums keep the FPU busy and
    // read the row of A once per four rows of W.
    for (; j + 4 <= col_end; j += 4) {
      const float* w0 = w + static_cast<std::size_t>(j) * k;
      const float* w1 = w0 + k;
      const float* w2 = w1 + k;
      const float* w3 = w2 + k;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int p = 0; p < k; ++p) {
        const double ap = a[p];
        s0 += ap * w0[p];
        s1 += ap * w1[p];
        s2 += ap * w2[p];
        s3 += ap * w3[p];
      }
      // Read every residual before writing: c may alias it.
      const float v0 = apply_epilogue(args, i, j, static_cast<float>(s0));
      const float v1 = apply_epilogue(args, i, j + 1, static_cast<float>(s1));
      const float v2 = apply_epilogue(args, i, j + 2, static_cast<float>(s2));
      const float v3 = apply_epilogue(args, i, j + 3, static_cast<float>(s3));
      c[j] = v0;
      c[j + 1] = v1;
      c[j + 2] = v2;
      c[j + 3] = v3;
    }
    for (; j < col_end; ++j) {
      const float* wj = w + static_cast<std::size_t>(j) * k;
      double s = 0;
      for (int p = 0; p < k; ++p) s += static_cast<double>(a[p]) * wj[p];
      c[j] = apply_epilogue(args, i, j, static_cast<float>(s));
    }
  }
}

}  // namespace crossrank::kernels::ref
