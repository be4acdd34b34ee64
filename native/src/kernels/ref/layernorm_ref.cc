// Reference LayerNorm: two passes in double over the (x + residual) row.
// Each pass re-reads x and residual, and out[j] is written only after its
// own inputs were read in the last pass, so out may alias x or residual.
#include <cmath>

#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::ref {

void add_layernorm(const float* x, const float* residual, const float* gamma,
                   const float* beta, float eps, int rows, int cols, int ld, float* out) {
  for (int r = 0; r < rows; ++r) {
    const std::size_t off = static_cast<std::size_t>(r) * ld;
    const float* xr = x + off;
    const float* rr = residual ? residual + off : nullptr;
    float* o = out + off;
    // The sum is rounded to float first, as PyTorch adds the residual in a
    // separate float op before the LayerNorm.
    auto in = [&](int j) { return rr ? xr[j] + rr[j] : xr[j]; };
    double mean = 0;
    for (int j = 0; j < cols; ++j) mean += in(j);
    mean /= cols;
    double var = 0;
    for (int j = 0; j < cols; ++j) {
      const double d = in(j) - mean;
      var += d * d;
    }
    var /= cols;
    const double inv_std = 1.0 / std::sqrt(var + eps);
    for (int j = 0; j < cols; ++j)
      o[j] = static_cast<float>((in(j) - mean) * inv_std * gamma[j] + beta[j]);
  }
}

}  // namespace crossrank::kernels::ref
