#include <cmath>
#include <limits>

#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::ref {

float gelu_erf_scalar(float x) {
  // The formula gives -inf * 0 = NaN at -inf; the limit is 0.
  if (x == -std::numeric_limits<float>::infinity()) return -0.0f;
  const double xd = x;
  return static_cast<float>(0.5 * xd * (1.0 + std::erf(xd * 0.70710678118654752440)));
}

void gelu_erf(float* x, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) x[i] = gelu_erf_scalar(x[i]);
}

void tanh(float* x, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) x[i] = std::tanh(x[i]);
}

}  // namespace crossrank::kernels::ref
