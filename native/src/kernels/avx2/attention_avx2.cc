// Attention for one sequence, per head, AVX2+FMA: the x86 attention walk
// (kernels/x86/attention_walk.h: K packed transposed, S = Q K^T in row
// blocks, softmax, O = P V) on the 6x16 register tiles of the linear layers'
// f32_gemm_6x16: 12 accumulators, two loads and six broadcasts per twelve
// FMAs.
#include <immintrin.h>

#include "kernels/ops.h"
#include "kernels/x86/attention_walk.h"
#include "kernels/x86/vmath.h"

namespace crossrank::kernels::avx2 {
namespace {

struct Ymm {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kWidth = 8;
  static constexpr int kMr = 6;
  static constexpr int kPrefetchKeys = 0;
  static constexpr bool kAlwaysMasked = false;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  // Lanes below n; n in [-8, 16].
  static Mask mask(int n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x86::kMaskTable + 16 - n));
  }
  static Vec load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
};

}  // namespace

void attention_heads(const AttentionArgs& args, int head_begin, int head_end) {
  x86::AttentionWalk<Ymm>::heads(args, head_begin, head_end);
}

void attention(const AttentionArgs& args) { attention_heads(args, 0, args.num_heads); }

}  // namespace crossrank::kernels::avx2
