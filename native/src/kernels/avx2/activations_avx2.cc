// Element-wise activations, AVX2+FMA: GELU (erf form) and tanh. Full
// vectors first, then one masked vector for the tail, so every element goes
// through the same instruction sequence whatever the count.
#include <immintrin.h>

#include "kernels/ops.h"
#include "kernels/x86/vmath.h"

namespace crossrank::kernels::avx2 {
namespace {

using x86::gelu_ps;
using x86::tail_mask;
using x86::tanh_ps;

template <__m256 (*kOp)(__m256)>
void apply_in_place(float* x, std::size_t count) {
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, kOp(_mm256_loadu_ps(x + i)));
  if (i < count) {
    const __m256i m = tail_mask(static_cast<int>(count - i));
    _mm256_maskstore_ps(x + i, m, kOp(_mm256_maskload_ps(x + i, m)));
  }
}

}  // namespace

void gelu_erf(float* x, std::size_t count) { apply_in_place<gelu_ps>(x, count); }

void tanh(float* x, std::size_t count) { apply_in_place<tanh_ps>(x, count); }

}  // namespace crossrank::kernels::avx2
