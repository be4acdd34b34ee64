// Reference bf16 GEMM (the bgemm contract in kernels.h): W rounded to bf16
// and kept as [n][k + k % 2]; each row of A rounded to bf16 as it is read;
// each output summed pair by pair in vdpbf16ps's order. Every product of two
// bf16 values is exact in fp32 (8 + 8 significant bits), so only the fp32
// additions round, and a kernel that adds in the same order gives the same
// bits whether it multiplies and adds (vdpbf16ps, AMX) or fuses the two.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/ref/ref_kernels.h"

namespace crossrank::kernels::ref {

void bgemm_pack(const float* w, int n, int k, PackedWeights* out) {
  const int k_even = k + k % 2;
  out->n = n;
  out->k = k;
  out->packed_for = kBGemmName;
  out->bdata.assign(static_cast<std::size_t>(n) * k_even, 0);
  for (int j = 0; j < n; ++j)
    for (int p = 0; p < k; ++p)
      out->bdata[static_cast<std::size_t>(j) * k_even + p] =
          f32_to_bf16(w[static_cast<std::size_t>(j) * k + p]);
}

float bf16_pair_dot(const float* a, const std::uint16_t* w, int k_even) {
  float s = 0.f;
  // The odd k of each pair first, then the even one (q ^ 1 runs 1, 0, 3, 2,
  // ...): vdpbf16ps's order. Written as one statement per step on purpose:
  // GCC 12 at -O3 vectorises the two-statement form (s += odd; s += even)
  // into an in-order reduction that adds one product twice.
  for (int q = 0; q < k_even; ++q) {
    const int p = q ^ 1;
    s += a[p] * bf16_to_f32_bits(w[p]);
  }
  return s;
}

namespace {

// The bgemm contract with `dot` as the sum of one output.
template <class Dot>
void bgemm_with(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end,
                Dot dot) {
  const int k = args.w->k;
  const int k_even = k + k % 2;
  const std::uint16_t* w = args.w->bdata.data();
  std::vector<float> a_row(static_cast<std::size_t>(k_even), 0.f);
  std::vector<float> out(static_cast<std::size_t>(std::max(0, col_end - col_begin)));
  for (int i = row_begin; i < row_end; ++i) {
    const float* a = args.a + static_cast<std::size_t>(i) * args.lda;
    for (int p = 0; p < k; ++p) a_row[p] = round_to_bf16(a[p]);
    for (int j = col_begin; j < col_end; ++j) {
      const float s = dot(a_row.data(), w + static_cast<std::size_t>(j) * k_even, k_even);
      out[j - col_begin] = apply_epilogue(args, i, j, s);
    }
    // Every residual is read before c is written: c may alias it.
    std::copy(out.begin(), out.end(), args.c + static_cast<std::size_t>(i) * args.ldc + col_begin);
  }
}

float flush_subnormal(float x) {
  return std::fabs(x) < std::numeric_limits<float>::min() ? std::copysign(0.f, x) : x;
}

// A bf16 product as BFDOT makes it: exact (8 x 8 significant bits) unless
// it leaves the normal range, where it flushes to zero or overflows.
float product_ftz(float a, float w) {
  const double p = static_cast<double>(a) * w;
  if (std::fabs(p) > std::numeric_limits<float>::max()) return p > 0 ? INFINITY : -INFINITY;
  return flush_subnormal(static_cast<float>(p));
}

}  // namespace

float add_round_odd(float a, float b) {
  const float s = a + b;  // nearest
  if (std::isnan(s)) return std::numeric_limits<float>::quiet_NaN();
  if (std::isinf(s)) return s;  // an infinite operand, or past the largest float
  // a + b == s + e exactly (Knuth's two-sum), |e| <= half an ulp of s.
  const float bv = s - a;
  const float e = (a - (s - bv)) + (b - bv);
  if (e == 0) return flush_subnormal(s);
  constexpr float kMax = std::numeric_limits<float>::max();
  if (std::fabs(s) == kMax && (e > 0) == (s > 0)) return s > 0 ? INFINITY : -INFINITY;
  // Inexact: the sum lies strictly between two floats, of which the odd one
  // is the one toward zero with its last bit set. s is one of the two; the
  // one toward zero is s, or the float below s in magnitude when e points
  // back toward zero.
  const bool away = s > 0 ? e < 0 : e > 0;
  std::uint32_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  bits = (bits - (away ? 1u : 0u)) | 1u;
  float odd;
  std::memcpy(&odd, &bits, sizeof odd);
  return flush_subnormal(odd);
}

float bf16_pair_dot_round_odd(const float* a, const std::uint16_t* w, int k_even) {
  float s = 0.f;
  for (int p = 0; p < k_even; p += 2) {
    const float pair = add_round_odd(product_ftz(a[p], bf16_to_f32_bits(w[p])),
                                     product_ftz(a[p + 1], bf16_to_f32_bits(w[p + 1])));
    s = add_round_odd(s, pair);
  }
  return s;
}

namespace {

// TDPBF16PS's sum (ref_kernels.h, bf16_pair_dot_amx) of a and the values
// w_at(0..k_even), both already bf16.
template <class WeightAt>
float amx_order_dot(const float* a, WeightAt w_at, int k_even) {
  float s = 0.f;
  const int pairs = k_even / 2;
  for (int step = 0; step < pairs; step += kAmxStepPairs) {
    float even = 0.f, odd = 0.f;
    for (int q = step; q < step + kAmxStepPairs; ++q) {
      // Past k the operands are the padding's zeros: +0 products, which
      // still turn a -0 temporary into +0.
      const bool inside = q < pairs;
      const float a_even = inside ? a[2 * q] : 0.f, a_odd = inside ? a[2 * q + 1] : 0.f;
      const float w_even = inside ? w_at(2 * q) : 0.f, w_odd = inside ? w_at(2 * q + 1) : 0.f;
      even = flush_subnormal(even + product_ftz(a_even, w_even));
      odd = flush_subnormal(odd + product_ftz(a_odd, w_odd));
    }
    s = flush_subnormal(s + flush_subnormal(even + odd));
  }
  return s;
}

}  // namespace

float bf16_pair_dot_amx(const float* a, const std::uint16_t* w, int k_even) {
  return amx_order_dot(a, [w](int i) { return bf16_to_f32_bits(w[i]); }, k_even);
}

float float_pair_dot_amx(const float* a, const float* b, int k_even) {
  return amx_order_dot(a, [b](int i) { return b[i]; }, k_even);
}

void bgemm_amx(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  bgemm_with(args, row_begin, row_end, col_begin, col_end, bf16_pair_dot_amx);
}

void bgemm(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end) {
  bgemm_with(args, row_begin, row_end, col_begin, col_end, bf16_pair_dot);
}

void bgemm_round_odd(const GemmArgs& args, int row_begin, int row_end, int col_begin,
                     int col_end) {
  bgemm_with(args, row_begin, row_end, col_begin, col_end, bf16_pair_dot_round_odd);
}

}  // namespace crossrank::kernels::ref
