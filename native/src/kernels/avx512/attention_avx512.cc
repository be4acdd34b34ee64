// Attention for one sequence, per head, with 512-bit vectors: the x86
// attention walk (kernels/x86/attention_walk.h) on the 8x32 register tiles of
// the AVX-512 GEMM, bit for bit the AVX2 kernel's outputs (the walk says why).
//
// Why, when Zen 4 runs a 512-bit FMA as two 256-bit halves: as in the GEMM
// (gemm_avx512.cc), the 6x16 AVX2 tiles issue a broadcast per two FMAs and
// are held by the front end; here each step is two loads, eight broadcasts
// and sixteen FMAs. In the int8 model, attention was the largest fp32 part
// (about a fifth of the cycles once the int8 GEMM was fast). The rows of K
// are prefetched a few keys ahead while they are packed, since they come
// from the QKV GEMM's output, out of cache; the P V tiles are always masked
// past head_dim (masked loads read nothing).
#include <immintrin.h>

#include <algorithm>

#include "kernels/ops.h"
#include "kernels/x86/attention_walk.h"

// GCC 12's AVX-512 headers build their cast and extract intrinsics on an
// "undefined" vector, which -Wmaybe-uninitialized reports at every use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace crossrank::kernels::avx512 {
namespace {

struct Zmm {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kWidth = 16;
  static constexpr int kMr = 8;
  static constexpr int kPrefetchKeys = 8;
  static constexpr bool kAlwaysMasked = true;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  // Lanes below n, for any n.
  static Mask mask(int n) {
    return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                   : static_cast<__mmask16>((1u << std::max(n, 0)) - 1);
  }
  static Vec load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
};

}  // namespace

void attention_heads(const AttentionArgs& args, int head_begin, int head_end) {
  x86::AttentionWalk<Zmm>::heads(args, head_begin, head_end);
}

void attention(const AttentionArgs& args) { attention_heads(args, 0, args.num_heads); }

}  // namespace crossrank::kernels::avx512
