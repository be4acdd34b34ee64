// The x86 pieces of the int8 GEMM frame (kernels/qgemm_frame.h walks the
// tiles), built with the AVX2 kernels' flags: the AVX2 kernel
// (avx2/qgemm_avx2.cc) and the AVX-512 VNNI one
// (avx512vnni/qgemm_avx512vnni.cc) bring only their integer loops, and so
// give the same bytes, sums and outputs.
//
// Quantising A: each call quantises its row block into a per-thread buffer
// (rows zero-padded to a multiple of 32 bytes, one scale per 32 bytes)
// before the integer loop reads it; the vector code gives the same bytes
// and scales as quantize_blocks_s8.
//
// Packing (pack_int8_panels, kernels/gemm_pack.h, group 4): Wq ([n][k]
// int8) becomes ceil(n/16) column panels; in a panel, for each group of 4 k
// values, the 16 columns' 4 bytes lie side by side (64 bytes: one ymm for
// columns 0-7, one for 8-15, or one zmm); k is zero-padded to a multiple of
// 32 and the tail panel's missing columns are zero.
//
// After the integer loop has summed a tile (sums = sum over blocks of
// float(dot) * block scale), the epilogue multiplies by the column's scale,
// then runs the fp32 GEMM's epilogues (bias, GELU, residual) on the
// registers before the single store; partial column tiles use masked loads
// and stores.
#include "kernels/x86/qgemm_frame.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/qgemm_frame.h"
#include "kernels/x86/vmath.h"

#if defined(_MSC_VER) && !defined(__clang__)
#define CROSSRANK_X86_FORCE_INLINE __forceinline
#else
#define CROSSRANK_X86_FORCE_INLINE inline __attribute__((always_inline))
#endif

namespace crossrank::kernels::x86 {
namespace {

constexpr int kNr = kQTileCols;
constexpr int kBlock = kQuantBlock;
static_assert(kBlock == 32, "quantize_block reads one block as four 8-float vectors");
// Rows per block: the block's quantised rows (at most 96 x 3072 bytes at
// BERT-base's widest K) stay in L2 while every panel of W is streamed past
// them once.
constexpr int kMc_ = 96;
// The AMX kernel loads whole tiles of kQGemmMaxMr rows of the block, valid
// or not: the block's buffer must hold them.
static_assert(kMc_ % kQGemmMaxMr == 0, "a row block is whole tiles of the tallest kernel");

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

// quantize_row_s8 on one full block of 32 values; returns its scale and,
// when correction is not null, stores -128 x the sum of the 32 quantised
// values (see QTile::block_corrections). cvtps
// rounds half to even under the default MXCSR, as nearbyint does.
float quantize_block(const float* x, std::int8_t* q, std::int32_t* correction) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
  const __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
  const __m256 vmax = _mm256_max_ps(
      _mm256_max_ps(_mm256_and_ps(x0, abs_mask), _mm256_and_ps(x1, abs_mask)),
      _mm256_max_ps(_mm256_and_ps(x2, abs_mask), _mm256_and_ps(x3, abs_mask)));
  const float max_abs = horizontal_max(vmax);
  const __m256 vinv = _mm256_set1_ps(max_abs > 0.f ? 127.f / max_abs : 0.f);
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(x0, vinv));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(x1, vinv));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(x2, vinv));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(x3, vinv));
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  // packs interleaves the 128-bit lanes; this puts the 4-byte runs back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_permutevar8x32_epi32(bytes, order));
  if (correction != nullptr) {
    // Every value is in [-127, 127], so packs did not saturate: these are q's values.
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    *correction = -128 * _mm_cvtsi128_si32(s4);
  }
  return max_abs / 127.f;
}

// quantize_blocks_s8 on one row: full blocks in vectors, a short last block
// by the shared scalar code; writes k_padded bytes (zeros past k) and, when
// block_corrections is not null, -128 x the sum of each block's values.
void quantize_row(const float* x, int k, int k_padded, std::int8_t* q, float* block_scales,
                  std::int32_t* block_corrections) {
  int b = 0;
  for (; (b + 1) * kBlock <= k; ++b) {
    block_scales[b] = quantize_block(x + b * kBlock, q + b * kBlock,
                                     block_corrections != nullptr ? block_corrections + b : nullptr);
  }
  if (b * kBlock < k) {
    block_scales[b] = quantize_row_s8(x + b * kBlock, k - b * kBlock, q + b * kBlock);
    std::memset(q + k, 0, static_cast<std::size_t>(k_padded - k));
    if (block_corrections != nullptr) {
      std::int32_t sum = 0;
      for (int p = b * kBlock; p < k; ++p) sum += q[p];
      block_corrections[b] = -128 * sum;
    }
  }
}

// The dequantised sums of `rows` rows times the column scales, then the fp32
// GEMM's epilogues (bias, GELU, residual) on the registers before the single
// store; a partial column tile (nv < kNr) uses masked loads and stores.
template <bool kFull>
void store_tile(const float (*sums)[kNr], const GemmArgs& args, int i, int j, int rows,
                int nv) {
  float* c = args.c + static_cast<std::size_t>(i) * args.ldc + j;
  const std::size_t ldc = args.ldc;
  const float* col_scales = args.w->scales.data() + j;
  __m256i m0 = _mm256_setzero_si256(), m1 = m0;
  if (!kFull) {
    m0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 16 - nv));
    m1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 24 - nv));
  }
  auto load = [&](const float* p, __m256i m) {
    return kFull ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
  };
  auto store = [&](float* p, __m256i m, __m256 v) {
    if (kFull) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, m, v);
    }
  };

  const __m256 cs0 = load(col_scales, m0);
  const __m256 cs1 = load(col_scales + 8, m1);
  const bool has_bias = args.epilogue != Epilogue::kNone;
  const __m256 bias0 = has_bias ? load(args.bias + j, m0) : _mm256_setzero_ps();
  const __m256 bias1 = has_bias ? load(args.bias + j + 8, m1) : _mm256_setzero_ps();
  for (int r = 0; r < rows; ++r) {
    __m256 out0 = _mm256_mul_ps(_mm256_load_ps(sums[r]), cs0);
    __m256 out1 = _mm256_mul_ps(_mm256_load_ps(sums[r] + 8), cs1);
    if (has_bias) {
      out0 = _mm256_add_ps(out0, bias0);
      out1 = _mm256_add_ps(out1, bias1);
    }
    if (args.epilogue == Epilogue::kBiasGelu) {
      out0 = gelu_ps(out0);
      out1 = gelu_ps(out1);
    } else if (args.epilogue == Epilogue::kBiasResidual) {
      // Loaded just before the store of the same elements: c may alias it.
      const float* res = args.residual + static_cast<std::size_t>(i + r) * args.ldr + j;
      out0 = _mm256_add_ps(out0, load(res, m0));
      out1 = _mm256_add_ps(out1, load(res + 8, m1));
    }
    store(c + r * ldc, m0, out0);
    store(c + r * ldc + 8, m1, out1);
  }
}

// The x86 pieces of the int8 frame (kernels/qgemm_frame.h).
struct Frame {
  static constexpr int kNr = kQTileCols;
  static constexpr int kMc = kMc_;
  static constexpr int kMaxMr = kQGemmMaxMr;
  static void quantize_row(const float* x, int k, int kp, std::int8_t* q, float* block_scales,
                           std::int32_t* block_corrections) {
    x86::quantize_row(x, k, kp, q, block_scales, block_corrections);
  }
  // Fetch the tile's output (and residual) lines while the integer loop
  // runs: they were last touched layers ago, and the epilogue otherwise
  // stalls on them (about 10 % of the int8 model's cycles sat on its
  // residual loads and stores before this). Forced inline: a function that
  // only prefetches has no side effects as far as GCC 12 can tell, and its
  // calls were dropped (20 % slower int8 attention-output GEMM at M = 8192).
  CROSSRANK_X86_FORCE_INLINE static void before_tile(const GemmArgs& args, int i, int j, int rows,
                                                     int nv) {
    const std::size_t ldc = args.ldc, ldr = args.ldr;
    const float* c = args.c + static_cast<std::size_t>(i) * ldc + j;
    const float* residual = args.epilogue == Epilogue::kBiasResidual
                                ? args.residual + static_cast<std::size_t>(i) * ldr + j
                                : nullptr;
    for (int r = 0; r < rows; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + nv - 1), _MM_HINT_T0);
      if (residual != nullptr && residual != c) {
        _mm_prefetch(reinterpret_cast<const char*>(residual + r * ldr), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(residual + r * ldr + nv - 1), _MM_HINT_T0);
      }
    }
  }
  static void store_tile(const float (*sums)[kNr], const GemmArgs& args, int i, int j, int rows,
                         int nv) {
    if (nv == kNr) {
      x86::store_tile<true>(sums, args, i, j, rows, nv);
    } else {
      x86::store_tile<false>(sums, args, i, j, rows, nv);
    }
  }
};

}  // namespace

void qgemm_tiles(const GemmArgs& args, int row_begin, int row_end, int col_begin, int col_end,
                 int mr, QTileSums tile_sums, bool with_block_corrections) {
  qgemm_frame<Frame>(args, row_begin, row_end, col_begin, col_end, mr, tile_sums,
                     with_block_corrections);
}

}  // namespace crossrank::kernels::x86
