// The int8 GEMM of every kernel table this build has (AVX-512 VNNI and AVX2
// natively, NEON under qemu-aarch64, the reference everywhere; a table this
// CPU cannot run is skipped, saying so):
// - the integer part is exact: with rows of A that quantise to themselves
//   (integers with max |a| = 127 in every block of kQuantBlock columns, so
//   every block scale is 1) and column scales of 1, every output must equal
//   the int64 dot product computed here, at
//   sizes around each table's micro-tile, including the largest products
//   (+-127 * +-127) that would saturate a careless vpmaddubsw;
// - on real-valued inputs each table gives what the reference qgemm gives
//   (same quantised bytes, same dequantisation), up to the GELU's rounding;
// - the scheme itself stays close to the fp32 product (normalised error);
// - splitting the work over threads or blocks changes nothing;
// - the AVX-512 VNNI and AVX2 kernels give the same bits (same bytes, same
//   exact integer sums, same float steps).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernel_test_helpers.h"

namespace crossrank::kernels {
namespace {

// An int8 output against the reference's after the same epilogue: the same
// quantised bytes and int32 block sums, so equal but for the order (or
// fusing) of the float sum over blocks, within a few ulp of the sum of
// |terms| (kBlockSumTol of sum |a w|), and the vectorised GELU, within
// 5e-7 max(1, |x|) of erf's GELU (kEpilogueTol).
constexpr double kEpilogueTol = 1e-6;
constexpr double kBlockSumTol = 1e-6;
// Normalised error ||c_int8 - c_fp32|| / ||c_fp32|| of the whole scheme on
// uniform random data (k = 384): each operand is rounded to 1/254 of its
// block's or row's range, so the error is about 0.5 %; 2 % leaves a margin
// and still fails on any wrong scale or sign.
constexpr double kSchemeNormalisedTol = 0.02;

using testing::around_tile;
using testing::kAllEpilogues;
using testing::random_floats;
using testing::random_int8;
std::uint64_t test_seed() { return testing::test_seed("qgemm_test"); }

// Every table built into this binary, best first.
std::vector<const KernelTable*> compiled_tables() {
  std::vector<const KernelTable*> tables;
  for (const KernelTable* t : {amx_kernels(), amx_emulated_kernels(), avx512vnni_kernels(),
                               avx2_kernels(), neon_i8mm_bf16_kernels(),
                               neon_i8mm_kernels(), neon_kernels()})
    if (t != nullptr) tables.push_back(t);
  tables.push_back(&ref_kernels());
  return tables;
}

using testing::cpu_runs;

// What a table needs that this CPU may lack, for the message of a skip.
std::string requirement(const KernelTable* table) {
  if (table == amx_kernels())
    return "AMX-INT8 and AMX-BF16 usable (CPUID, XCR0, arch_prctl permission: " +
           cpu_features().amx_status + ") with AVX512-BF16";
  if (table == amx_emulated_kernels()) return "AVX512-BF16 (the code around the emulated tiles)";
  if (table == avx512vnni_kernels()) return "AVX-512 VNNI, VL and BW (and AVX2+FMA)";
  if (table == avx2_kernels()) return "AVX2+FMA";
  if (table == neon_i8mm_kernels()) return "Arm I8MM (HWCAP2_I8MM)";
  if (table == neon_i8mm_bf16_kernels()) return "Arm I8MM and BF16 (HWCAP2_I8MM, HWCAP2_BF16)";
  return table->isa;
}

class QGemmTest : public ::testing::TestWithParam<const KernelTable*> {
 protected:
  void SetUp() override {
    const std::string why = testing::not_run_reason(GetParam(), GetParam()->qgemm_name,
                                                    requirement(GetParam()));
    if (!why.empty()) GTEST_SKIP() << why;
  }
  const KernelTable& table() const { return *GetParam(); }
  std::mt19937_64 rng_{test_seed()};
};

using testing::table_name;

TEST(QuantizeRow, ScaleAndRounding) {
  // max |x| = 127 gives scale 1 and q = round-half-even(x).
  const float x[] = {127.f, 2.5f, -2.5f, 3.5f, 0.f, -127.f, 0.49f};
  std::int8_t q[7];
  EXPECT_EQ(quantize_row_s8(x, 7, q), 1.f);
  const std::int8_t want[] = {127, 2, -2, 4, 0, -127, 0};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(q[i], want[i]) << "x[" << i << "] = " << x[i];

  // The largest magnitude maps to +-127 whatever the scale; -128 never appears.
  const float y[] = {-0.3f, 0.1f, 0.2999f};
  std::int8_t qy[3];
  EXPECT_FLOAT_EQ(quantize_row_s8(y, 3, qy), 0.3f / 127.f);
  EXPECT_EQ(qy[0], -127);
  EXPECT_EQ(qy[2], 127);

  const float zeros[] = {0.f, 0.f, 0.f};
  std::int8_t qz[3] = {1, 1, 1};
  EXPECT_EQ(quantize_row_s8(zeros, 3, qz), 0.f);
  for (std::int8_t v : qz) EXPECT_EQ(v, 0);
}

TEST(QuantizeRow, BlocksHaveTheirOwnScales) {
  // Three blocks (the last one short); an outlier in the second block must
  // not coarsen the first or the third.
  const int k = 2 * kQuantBlock + 6;
  std::vector<float> x(k, 0.25f);
  x[3] = -1.f;
  x[kQuantBlock + 5] = 100.f;
  x[2 * kQuantBlock + 1] = 0.5f;
  std::vector<std::int8_t> q(k);
  float scales[3];
  quantize_blocks_s8(x.data(), k, q.data(), scales);
  EXPECT_FLOAT_EQ(scales[0], 1.f / 127.f);
  EXPECT_FLOAT_EQ(scales[1], 100.f / 127.f);
  EXPECT_FLOAT_EQ(scales[2], 0.5f / 127.f);
  EXPECT_EQ(q[3], -127);
  EXPECT_EQ(q[0], 32);  // 0.25 * 127 = 31.75
  EXPECT_EQ(q[kQuantBlock + 5], 127);
  EXPECT_EQ(q[kQuantBlock], 0);  // 0.25 * 1.27 = 0.3175
  EXPECT_EQ(q[2 * kQuantBlock + 1], 127);
  EXPECT_EQ(q[2 * kQuantBlock], 64);  // 0.25 * 254 = 63.5, half to even
}

// Rows of A made of integers in [-127, 127] with a +-127 in every block of
// kQuantBlock columns quantise to themselves with block scales of 1, so with
// column scales of 1 and no epilogue, c is float(exact integer dot): every
// partial sum is an integer below 2^24, exact in float.
void check_integer_dot(const KernelTable& table, int m, int n, int k, int lda, int ldc,
                       std::vector<float> a, const std::vector<std::int8_t>& w) {
  SCOPED_TRACE(::testing::Message() << table.isa << " m=" << m << " n=" << n << " k=" << k
                                    << " lda=" << lda << " ldc=" << ldc);
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; p += kQuantBlock)
      a[static_cast<std::size_t>(i) * lda + p] = ((i + p) & 1) ? -127.f : 127.f;
  const std::vector<float> ones(static_cast<std::size_t>(n), 1.f);
  PackedWeights packed;
  table.qgemm_pack(w.data(), ones.data(), n, k, &packed);
  std::vector<float> c(static_cast<std::size_t>(m) * ldc, -12345.5f);
  GemmArgs args{m, a.data(), lda, &packed, nullptr, nullptr, 0, c.data(), ldc, Epilogue::kNone};
  table.qgemm(args, 0, m, 0, n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      std::int64_t dot = 0;
      for (int p = 0; p < k; ++p)
        dot += static_cast<std::int64_t>(a[static_cast<std::size_t>(i) * lda + p]) *
               w[static_cast<std::size_t>(j) * k + p];
      ASSERT_EQ(c[static_cast<std::size_t>(i) * ldc + j], static_cast<float>(dot))
          << "at (" << i << ", " << j << ")";
    }
    for (int j = n; j < ldc; ++j) ASSERT_EQ(c[static_cast<std::size_t>(i) * ldc + j], -12345.5f);
  }
}

TEST_P(QGemmTest, IntegerDotIsExactAroundTile) {
  std::uniform_int_distribution<int> dist(-127, 127);
  // k of 1024 (|dot| <= 127 * 127 * 1024 < 2^24, still exact in float) is
  // in IntegerDotIsExactAtExtremes.
  for (int m : around_tile(table().qgemm_mr, {67}))
    for (int n : around_tile(table().qgemm_nr, {3 * table().qgemm_nr + 5}))
      for (int k : {1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 64, 384}) {
        const bool strided = ((m + n + k) & 1) != 0;
        const int lda = strided ? k + 3 : k, ldc = strided ? n + 5 : n;
        std::vector<float> a(static_cast<std::size_t>(m) * lda);
        for (float& x : a) x = static_cast<float>(dist(rng_));
        check_integer_dot(table(), m, n, k, lda, ldc, a,
                          random_int8(static_cast<std::size_t>(n) * k, rng_));
        if (HasFailure()) return;
      }
}

TEST_P(QGemmTest, IntegerDotIsExactAtExtremes) {
  // Every product +-127 * +-127 with one sign throughout: the int16 pair
  // sums reach +-32258 and the int32 sums 127 * 127 * k.
  for (int k : {4, 33, 1024})
    for (float a_value : {127.f, -127.f})
      for (int w_value : {127, -127}) {
        const int m = 2 * table().qgemm_mr + 1, n = 2 * table().qgemm_nr + 3;
        std::vector<float> a(static_cast<std::size_t>(m) * k, a_value);
        std::vector<std::int8_t> w(static_cast<std::size_t>(n) * k,
                                   static_cast<std::int8_t>(w_value));
        // check_integer_dot sets the first value of each block to +-127.
        check_integer_dot(table(), m, n, k, k, n, a, w);
        if (HasFailure()) return;
      }
}

// table.qgemm against the reference qgemm on real-valued inputs.
void check_against_reference(const KernelTable& table, int m, int n, int k, Epilogue ep,
                             bool alias_residual, std::mt19937_64& rng) {
  SCOPED_TRACE(::testing::Message() << table.isa << " m=" << m << " n=" << n << " k=" << k
                                    << " epilogue=" << static_cast<int>(ep)
                                    << " alias=" << alias_residual);
  const int lda = k + 5, ldc = n + 3;
  std::vector<float> a = random_floats(static_cast<std::size_t>(m) * lda, rng, -4.f, 4.f);
  const std::vector<std::int8_t> q = random_int8(static_cast<std::size_t>(n) * k, rng);
  const std::vector<float> scales = random_floats(n, rng, 1e-3f, 2e-2f);
  const std::vector<float> bias = random_floats(n, rng);
  const std::vector<float> residual = random_floats(static_cast<std::size_t>(m) * ldc, rng);

  auto run = [&](const KernelTable& t, bool alias) {
    PackedWeights packed;
    t.qgemm_pack(q.data(), scales.data(), n, k, &packed);
    std::vector<float> c = alias ? residual : std::vector<float>(residual.size(), -12345.5f);
    GemmArgs args{m, a.data(), lda, &packed, bias.data(),
                  alias ? c.data() : residual.data(), ldc, c.data(), ldc, ep};
    t.qgemm(args, 0, m, 0, n);
    return c;
  };
  const std::vector<float> want = run(ref_kernels(), false);
  const std::vector<float> got = run(table, alias_residual);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double magnitude = 0;
      for (int p = 0; p < k; ++p)
        magnitude += std::fabs(a[static_cast<std::size_t>(i) * lda + p]) *
                     std::abs(q[static_cast<std::size_t>(j) * k + p]) * scales[j];
      const std::size_t at = static_cast<std::size_t>(i) * ldc + j;
      ASSERT_NEAR(got[at], want[at],
                  kEpilogueTol * std::max(1.f, std::fabs(want[at])) + kBlockSumTol * magnitude)
          << "at (" << i << ", " << j << ")";
    }
}

TEST_P(QGemmTest, MatchesReferenceEveryEpilogue) {
  for (int m : around_tile(table().qgemm_mr, {67}))
    for (int n : around_tile(table().qgemm_nr, {3 * table().qgemm_nr + 5}))
      for (int k : {1, 7, 32, 33, 100, 384})
        for (Epilogue ep : kAllEpilogues) {
          check_against_reference(table(), m, n, k, ep, false, rng_);
          if (HasFailure()) return;
        }
}

TEST_P(QGemmTest, ResidualAliasesOutput) {
  for (int m : {1, 5, 13, 67})
    for (int n : {3, 16, 37, 384}) {
      check_against_reference(table(), m, n, 33, Epilogue::kBiasResidual, true, rng_);
      if (HasFailure()) return;
    }
}

TEST_P(QGemmTest, SchemeIsCloseToFloatGemm) {
  // The whole path as the engine uses it: fp32 weights quantised per output
  // channel with the same quantiser as the activations.
  const int m = 64, n = 384, k = 384;
  const std::vector<float> a = random_floats(static_cast<std::size_t>(m) * k, rng_);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(n) * k, rng_);
  std::vector<std::int8_t> q(w.size());
  std::vector<float> scales(n);
  for (int j = 0; j < n; ++j)
    scales[j] = quantize_row_s8(w.data() + static_cast<std::size_t>(j) * k, k,
                                q.data() + static_cast<std::size_t>(j) * k);
  PackedWeights packed;
  table().qgemm_pack(q.data(), scales.data(), n, k, &packed);
  std::vector<float> c(static_cast<std::size_t>(m) * n);
  GemmArgs args{m, a.data(), k, &packed, nullptr, nullptr, 0, c.data(), n, Epilogue::kNone};
  table().qgemm(args, 0, m, 0, n);
  double err2 = 0, ref2 = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double dot = 0;
      for (int p = 0; p < k; ++p)
        dot += static_cast<double>(a[static_cast<std::size_t>(i) * k + p]) *
               w[static_cast<std::size_t>(j) * k + p];
      const double diff = c[static_cast<std::size_t>(i) * n + j] - dot;
      err2 += diff * diff;
      ref2 += dot * dot;
    }
  const double normalised = std::sqrt(err2 / ref2);
  std::printf("%s: int8 vs fp32 normalised error %.5f\n", table().qgemm_name, normalised);
  EXPECT_LT(normalised, kSchemeNormalisedTol);
}

TEST_P(QGemmTest, SplitsMatchWholeCall) {
  struct Shape {
    int m, n, k;
  };
  const Shape shapes[] = {{1, 384, 64}, {5, 1536, 33}, {67, 53, 33}, {300, 384, 64},
                          {2, 7, 3}, {2503, 37, 9}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k);
    const std::vector<float> a = random_floats(static_cast<std::size_t>(s.m) * s.k, rng_);
    const std::vector<std::int8_t> q = random_int8(static_cast<std::size_t>(s.n) * s.k, rng_);
    const std::vector<float> scales = random_floats(s.n, rng_, 1e-3f, 2e-2f);
    const std::vector<float> bias = random_floats(s.n, rng_);
    PackedWeights packed;
    table().qgemm_pack(q.data(), scales.data(), s.n, s.k, &packed);
    ASSERT_TRUE(packed.is_int8());
    std::vector<float> whole(static_cast<std::size_t>(s.m) * s.n);
    GemmArgs args{s.m, a.data(), s.k, &packed, bias.data(), nullptr, 0, whole.data(), s.n,
                  Epilogue::kBiasGelu};
    table().qgemm(args, 0, s.m, 0, s.n);

    // Blocks on micro-tile boundaries, called one by one.
    std::vector<float> parts(whole.size(), -12345.5f);
    args.c = parts.data();
    const int nr = table().qgemm_nr;
    for (int r0 = 0; r0 < s.m; r0 += 10)
      for (int c0 = 0; c0 < s.n; c0 += nr)
        table().qgemm(args, r0, std::min(s.m, r0 + 10), c0, std::min(s.n, c0 + nr));
    EXPECT_EQ(0, std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)));

    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> out(whole.size(), -12345.5f);
      args.c = out.data();
      gemm_parallel(table(), args, pool);
      EXPECT_EQ(0, std::memcmp(whole.data(), out.data(), out.size() * sizeof(float)))
          << "pool of " << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tables, QGemmTest, ::testing::ValuesIn(compiled_tables()),
                         table_name);

// Runs `got` and `want` (tables that sum the same exact integers and then run
// the same float steps) on every epilogue, tail and residual alias, and
// expects the same bits.
void expect_bit_identical(const KernelTable& want_table, const KernelTable& got_table) {
  std::mt19937_64 rng(test_seed());
  for (int m : {1, 4, 7, 8, 9, 16, 17, 67})
    for (int n : {3, 16, 37, 384})
      for (int k : {1, 33, 100, 384})
        for (Epilogue ep : kAllEpilogues) {
          SCOPED_TRACE(::testing::Message() << "m=" << m << " n=" << n << " k=" << k
                                            << " epilogue=" << static_cast<int>(ep));
          const int lda = k + 5, ldc = n + 3;
          const std::vector<float> a =
              random_floats(static_cast<std::size_t>(m) * lda, rng, -4.f, 4.f);
          const std::vector<std::int8_t> q = random_int8(static_cast<std::size_t>(n) * k, rng);
          const std::vector<float> scales = random_floats(n, rng, 1e-3f, 2e-2f);
          const std::vector<float> bias = random_floats(n, rng);
          const std::vector<float> residual =
              random_floats(static_cast<std::size_t>(m) * ldc, rng);
          auto run = [&](const KernelTable& t) {
            PackedWeights packed;
            t.qgemm_pack(q.data(), scales.data(), n, k, &packed);
            std::vector<float> c = residual;  // the residual aliases the output
            GemmArgs args{m, a.data(), lda, &packed, bias.data(), c.data(), ldc, c.data(), ldc, ep};
            t.qgemm(args, 0, m, 0, n);
            return c;
          };
          const std::vector<float> want = run(want_table);
          const std::vector<float> got = run(got_table);
          ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
        }
}

// The VNNI kernel sums the same exact integers as the AVX2 one and then runs
// the same float steps, so their outputs must agree bit for bit.
TEST(QGemmAvx512Vnni, BitIdenticalToAvx2) {
  const KernelTable* vnni = avx512vnni_kernels();
  const KernelTable* avx2 = avx2_kernels();
  if (vnni == nullptr || avx2 == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build";
  if (!cpu_runs(vnni))
    GTEST_SKIP() << "NOT RUN: this CPU (" << cpu_features().brand << ") lacks "
                 << requirement(vnni);
  expect_bit_identical(*avx2, *vnni);
}

// The AMX kernel (tdpbssd) sums the same exact integers per block as the
// VNNI one and then runs its float steps: the same bits, on the hardware
// where the CPU has AMX, and on the tile emulation wherever it has
// AVX512-BF16.
void expect_amx_bit_identical_to_vnni(const KernelTable* amx) {
  const KernelTable* vnni = avx512vnni_kernels();
  if (amx == nullptr || vnni == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build";
  if (!cpu_runs(amx))
    GTEST_SKIP() << "NOT RUN: this CPU (" << cpu_features().brand << ") lacks "
                 << requirement(amx) << ": the " << amx->qgemm_name << " kernel is not tested";
  expect_bit_identical(*vnni, *amx);
}
TEST(QGemmAmx, BitIdenticalToVnni) { expect_amx_bit_identical_to_vnni(amx_kernels()); }
TEST(QGemmAmx, EmulatedBitIdenticalToVnni) {
  expect_amx_bit_identical_to_vnni(amx_emulated_kernels());
}

// The I8MM (smmla) kernel sums the same exact integers as the NEON one and
// then runs the NEON frame's float steps: the same bits. Its table is there
// exactly when HWCAP2 lists I8MM, and a CPU without it says so.
TEST(QGemmNeonI8mm, TableMatchesCpuAndBitIdenticalToNeon) {
  const KernelTable* i8mm = neon_i8mm_kernels();
  if (i8mm == nullptr) GTEST_SKIP() << "NOT RUN: not an AArch64 build with +i8mm";
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(cpu_runs(i8mm), f.arm_i8mm);
  ASSERT_NE(neon_i8mm_bf16_kernels(), nullptr);
  EXPECT_EQ(cpu_runs(neon_i8mm_bf16_kernels()), f.arm_i8mm && f.arm_bf16);
  if (!f.arm_i8mm)
    GTEST_SKIP() << "NOT RUN: this CPU lacks " << requirement(i8mm) << ": the "
                 << i8mm->qgemm_name << " kernel is not tested here";
  std::printf("qgemm_test: %s runs on this CPU (HWCAP2_I8MM)\n", i8mm->qgemm_name);
  expect_bit_identical(*neon_kernels(), *i8mm);
  expect_bit_identical(*neon_kernels(), *neon_i8mm_bf16_kernels());
}

TEST(QGemmDispatch, EveryTableHasAnInt8Gemm) {
  for (const KernelTable* t : available_kernels()) {
    EXPECT_NE(t->qgemm_name, nullptr) << t->isa;
    EXPECT_GE(t->qgemm_mr, 1) << t->isa;
    EXPECT_GE(t->qgemm_nr, 1) << t->isa;
    EXPECT_NE(t->qgemm_pack, nullptr) << t->isa;
    EXPECT_NE(t->qgemm, nullptr) << t->isa;
  }
}

}  // namespace
}  // namespace crossrank::kernels
