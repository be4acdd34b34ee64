// The bf16 GEMM of every kernel table that has one (AVX512-BF16 natively,
// the reference everywhere; a table this CPU cannot run is skipped, saying
// so, and never counted as a pass):
// - rounding: f32_to_bf16 is round-to-nearest-even with fp32 subnormals to
//   zero, and each kernel rounds A exactly so (k = 1, W = 1: c is A rounded);
// - the reference's pairwise fp32 sum is close to the exact dot product of
//   the rounded operands (so the reference itself is right);
// - every kernel gives the reference's bits for the sum, bias and residual
//   epilogues, at sizes around its micro-tile, and the GELU within the
//   vectorised GELU's error;
// - splits over blocks and threads change nothing;
// - the scheme stays close to the fp32 product.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref_kernels.h"
#include "kernel_test_helpers.h"

namespace crossrank::kernels {
namespace {

// A GELU against erf's: within kGeluTol max(1, |x|) (kernel_test's bound),
// so two of them within twice that.
constexpr double kGeluTol = 5e-7;

std::uint64_t test_seed() { return testing::test_seed("bgemm_test"); }

// Uniform in [-scale, scale).
std::vector<float> random_floats(std::size_t n, std::mt19937_64& rng, float scale = 1.f) {
  return testing::random_floats(n, rng, -scale, scale);
}

float from_bits(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
std::uint32_t to_bits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

using testing::around_tile;

using testing::kAllEpilogues;

using testing::cpu_runs;

// Every table built into this binary that has a bf16 GEMM, best first; a
// table whose bf16 GEMM is the very function of a table already listed (the
// Arm tables with and without I8MM) only once, the one this CPU runs if
// any: under qemu each run of the bfmmla kernel costs a minute.
std::vector<const KernelTable*> bf16_tables() {
  std::vector<const KernelTable*> tables;
  for (const KernelTable* t : {amx_kernels(), amx_emulated_kernels(), avx512bf16_kernels(),
                               avx512vnni_kernels(), avx512_kernels(),
                               avx2_kernels(), neon_i8mm_bf16_kernels(), neon_bf16_kernels(),
                               neon_kernels(), &ref_kernels()}) {
    if (t == nullptr || t->bgemm == nullptr) continue;
    auto same = std::find_if(tables.begin(), tables.end(),
                             [t](const KernelTable* u) { return u->bgemm == t->bgemm; });
    if (same == tables.end()) {
      tables.push_back(t);
    } else if (!cpu_runs(*same) && cpu_runs(t)) {
      *same = t;  // the one this CPU runs (BF16 without I8MM: neon_bf16)
    }
  }
  return tables;
}

std::string requirement(const KernelTable* table) {
  if (table == amx_kernels())
    return "AMX-BF16 and AMX-INT8 usable (CPUID, XCR0, arch_prctl permission: " +
           cpu_features().amx_status + ") with AVX512-BF16";
  if (table == amx_emulated_kernels())
    return "AVX512-BF16 (the code around the emulated tiles)";
  if (table == avx512bf16_kernels())
    return "AVX512-BF16 with AVX-512 VNNI, VL and BW (and AVX2+FMA)";
  if (table == neon_bf16_kernels()) return "Arm BF16 (HWCAP2_BF16)";
  if (table == neon_i8mm_bf16_kernels()) return "Arm BF16 and I8MM (HWCAP2_BF16, HWCAP2_I8MM)";
  return table->isa;
}

// The reference a table's bf16 GEMM must equal bit for bit: Arm's BFDOT /
// BFMMLA round their sums to odd (ref::bgemm_round_odd); AMX's tdpbf16ps
// sums even and odd elements apart over 16 pairs, then adds both
// (ref::bgemm_amx); vdpbf16ps adds each pair odd first (ref::bgemm). All on
// ref::bgemm_pack's weights.
using BGemmFn = void (*)(const GemmArgs&, int, int, int, int);
BGemmFn reference_for(const KernelTable& table) {
  const char* isa = table.implemented_by.bgemm;
  if (isa != nullptr && std::strcmp(isa, "neon_bf16") == 0) return ref::bgemm_round_odd;
  if (isa != nullptr && (std::strcmp(isa, "amx") == 0 || std::strcmp(isa, "amx_emulated") == 0))
    return ref::bgemm_amx;
  return ref::bgemm;
}

class BGemmTest : public ::testing::TestWithParam<const KernelTable*> {
 protected:
  void SetUp() override {
    const std::string why = testing::not_run_reason(GetParam(), GetParam()->bgemm_name,
                                                    requirement(GetParam()));
    if (!why.empty()) GTEST_SKIP() << why;
  }
  const KernelTable& table() const { return *GetParam(); }
  std::mt19937_64 rng_{test_seed()};
};

using testing::table_name;

struct Case {
  int m, n, k;
  int lda, ldc;
};

// Runs table.bgemm and ref::bgemm on one case and compares: bit for bit but
// for the GELU. Also checks that padding columns of c stay untouched.
void check_against_ref(const KernelTable& table, const Case& g, Epilogue ep,
                       std::mt19937_64& rng, float scale = 1.f) {
  SCOPED_TRACE(::testing::Message() << table.isa << " m=" << g.m << " n=" << g.n
                                    << " k=" << g.k << " lda=" << g.lda << " ldc=" << g.ldc
                                    << " epilogue=" << static_cast<int>(ep));
  const std::vector<float> a = random_floats(static_cast<std::size_t>(g.m) * g.lda, rng, scale);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(g.n) * g.k, rng, scale);
  const std::vector<float> bias = random_floats(g.n, rng);
  const std::vector<float> residual = random_floats(static_cast<std::size_t>(g.m) * g.ldc, rng);
  PackedWeights packed, ref_packed;
  table.bgemm_pack(w.data(), g.n, g.k, &packed);
  ref::bgemm_pack(w.data(), g.n, g.k, &ref_packed);
  ASSERT_TRUE(packed.is_bf16());
  ASSERT_STREQ(packed.packed_for, table.bgemm_name);

  constexpr float kSentinel = -12345.5f;
  std::vector<float> got(static_cast<std::size_t>(g.m) * g.ldc, kSentinel);
  std::vector<float> want(got.size(), kSentinel);
  GemmArgs args{g.m, a.data(), g.lda, &packed, bias.data(), residual.data(), g.ldc,
                got.data(), g.ldc, ep};
  table.bgemm(args, 0, g.m, 0, g.n);
  const BGemmFn reference = reference_for(table);
  args.w = &ref_packed;
  args.c = want.data();
  reference(args, 0, g.m, 0, g.n);
  // The GELU's input x (the same sum plus bias in both): each GELU is within
  // kGeluTol max(1, |x|) of erf's.
  std::vector<float> pre(got.size(), 0.f);
  if (ep == Epilogue::kBiasGelu) {
    args.c = pre.data();
    args.epilogue = Epilogue::kBias;
    reference(args, 0, g.m, 0, g.n);
  }

  int failures = 0;
  for (int i = 0; i < g.m && failures < 5; ++i) {
    for (int j = 0; j < g.ldc && failures < 5; ++j) {
      const float x = got[static_cast<std::size_t>(i) * g.ldc + j];
      const float y = want[static_cast<std::size_t>(i) * g.ldc + j];
      if (j >= g.n) {
        if (x != kSentinel) {
          ADD_FAILURE() << "padding written at row " << i << " col " << j;
          ++failures;
        }
        continue;
      }
      const float pre_x = pre[static_cast<std::size_t>(i) * g.ldc + j];
      const bool ok = ep == Epilogue::kBiasGelu
                          ? std::fabs(x - y) <= 2 * kGeluTol * std::max(1.f, std::fabs(pre_x))
                          : to_bits(x) == to_bits(y);
      if (!ok) {
        ADD_FAILURE() << "c[" << i << "][" << j << "] = " << x << " (0x" << std::hex
                      << to_bits(x) << "), reference " << y << " (0x" << to_bits(y)
                      << std::dec << ")";
        ++failures;
      }
    }
  }
}

TEST(Bf16Rounding, NearestEvenAndSpecialValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-3.0f), 0xC040);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1.
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  // Just above the halfway point rounds up.
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F807FFFu)), 0x3F80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-INFINITY), 0xFF80);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00400000u)), 0x0000);  // subnormal -> +0
  EXPECT_EQ(f32_to_bf16(from_bits(0x80000001u)), 0x8000);  // subnormal -> -0
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::min()), 0x0080);  // smallest normal
  const std::uint16_t nan = f32_to_bf16(from_bits(0x7F800001u));  // signalling NaN
  EXPECT_TRUE(std::isnan(bf16_to_f32_bits(nan)));
  EXPECT_NE(nan & 0x0040, 0);  // quiet
}

// Arm's BFDOT / BFMMLA additions (FPCR.EBF = 0): round to odd, subnormal
// results to zero, overflow to infinity.
TEST(Bf16RoundOdd, AdditionRoundsToOdd) {
  const float one = 1.f, ulp = std::ldexp(1.f, -23);
  // Exact sums stay exact.
  EXPECT_EQ(ref::add_round_odd(one, one), 2.f);
  EXPECT_EQ(to_bits(ref::add_round_odd(3.f, -3.f)), to_bits(0.f));
  EXPECT_EQ(to_bits(ref::add_round_odd(-0.f, -0.f)), to_bits(-0.f));
  // 1 + ulp/2 lies between 1 (even) and 1 + ulp (odd): nearest-even says 1.
  EXPECT_EQ(to_bits(ref::add_round_odd(one, ulp / 2)), 0x3F800001u);
  EXPECT_EQ(to_bits(ref::add_round_odd(one, ulp / 4)), 0x3F800001u);
  EXPECT_EQ(to_bits(ref::add_round_odd(-one, -ulp / 4)), 0xBF800001u);
  // Between 1 + 2 ulp (even) and 1 + 3 ulp (odd), nearer the even one.
  EXPECT_EQ(to_bits(ref::add_round_odd(one + 2 * ulp, ulp / 4)), 0x3F800003u);
  // Between 1 + ulp (odd) and 1 + 2 ulp: stays odd.
  EXPECT_EQ(to_bits(ref::add_round_odd(one + ulp, ulp * 0.75f)), 0x3F800001u);
  // Just below 1 after subtracting a tiny amount: 1 - 2^-24 ulp-steps.
  EXPECT_EQ(to_bits(ref::add_round_odd(one, -std::ldexp(1.f, -40))), 0x3F7FFFFFu);
  // Subnormal results flush to zero of their sign; overflow goes to infinity.
  const float min = std::numeric_limits<float>::min();
  EXPECT_EQ(to_bits(ref::add_round_odd(1.5f * min, -min)), to_bits(0.f));
  EXPECT_EQ(to_bits(ref::add_round_odd(-1.5f * min, min)), to_bits(-0.f));
  const float max = std::numeric_limits<float>::max();
  EXPECT_EQ(ref::add_round_odd(max, max), INFINITY);
  EXPECT_EQ(ref::add_round_odd(-max, -max), -INFINITY);
  EXPECT_TRUE(std::isnan(ref::add_round_odd(INFINITY, -INFINITY)));
}

// k_even random values of a and w, rounded to bf16, with the exact dot
// product of the rounded values and the sum of its terms' magnitudes.
struct RoundedPair {
  std::vector<float> a;
  std::vector<std::uint16_t> w;
  double exact = 0, sum_abs = 0;
};
RoundedPair rounded_pair(int k_even, std::mt19937_64& rng) {
  const std::vector<float> a = random_floats(k_even, rng, 3.f);
  const std::vector<float> w = random_floats(k_even, rng, 3.f);
  RoundedPair out;
  out.a.resize(k_even);
  out.w.resize(k_even);
  for (int p = 0; p < k_even; ++p) {
    out.a[p] = round_to_bf16(a[p]);
    out.w[p] = f32_to_bf16(w[p]);
    const double t = static_cast<double>(out.a[p]) * bf16_to_f32_bits(out.w[p]);
    out.exact += t;
    out.sum_abs += std::fabs(t);
  }
  return out;
}

// The round-to-odd pair sum stays within k ulps-of-the-sum-of-|terms| of the
// exact dot product of the rounded operands (each rounding errs by less
// than one ulp; k of them).
TEST(Bf16RoundOdd, PairDotIsCloseToExactDot) {
  std::mt19937_64 rng(test_seed());
  for (int k_even : {2, 8, 384, 1536}) {
    const RoundedPair v = rounded_pair(k_even, rng);
    const double got = ref::bf16_pair_dot_round_odd(v.a.data(), v.w.data(), k_even);
    EXPECT_LE(std::fabs(got - v.exact), k_even * std::ldexp(v.sum_abs, -23)) << "k = " << k_even;
    EXPECT_NE(got, 0.0);
  }
}

// AMX's order (even and odd products summed apart over 16 pairs, then
// added) is a different rounding from vdpbf16ps's (pair by pair, odd
// first): on random data they disagree somewhere, so each kernel must be
// checked against its own reference; both stay within k roundings of the
// exact dot product of the rounded operands.
TEST(Bf16AmxOrder, DiffersFromPairOrderAndIsCloseToExactDot) {
  std::mt19937_64 rng(test_seed());
  int differ = 0;
  for (int trial = 0; trial < 50; ++trial) {
    const int k_even = 384;
    const RoundedPair v = rounded_pair(k_even, rng);
    const float amx = ref::bf16_pair_dot_amx(v.a.data(), v.w.data(), k_even);
    const float pairs = ref::bf16_pair_dot(v.a.data(), v.w.data(), k_even);
    EXPECT_LE(std::fabs(amx - v.exact), k_even * std::ldexp(v.sum_abs, -24)) << "trial " << trial;
    if (to_bits(amx) != to_bits(pairs)) ++differ;
  }
  EXPECT_GT(differ, 0);
}

// With k = 1 and W = 1 every output is the kernel's rounding of one element
// of A (plus +0), which must be f32_to_bf16's for ties, subnormals and extremes.
TEST_P(BGemmTest, RoundsAToNearestEven) {
  std::vector<float> a = {1.0f + std::ldexp(1.0f, -8),
                          1.0f + 3 * std::ldexp(1.0f, -8),
                          from_bits(0x3F808001u),
                          -from_bits(0x3F808001u),
                          from_bits(0x00400000u),
                          from_bits(0x80000001u),
                          std::numeric_limits<float>::min(),
                          1e30f,
                          -2.5e-30f,
                          65504.f,
                          3.14159265f};
  std::mt19937_64& rng = rng_;
  for (float x : random_floats(200, rng, 100.f)) a.push_back(x);
  const int m = static_cast<int>(a.size());
  const float one = 1.f;
  PackedWeights packed;
  table().bgemm_pack(&one, 1, 1, &packed);
  std::vector<float> c(a.size());
  GemmArgs args{m, a.data(), 1, &packed, nullptr, nullptr, 0, c.data(), 1, Epilogue::kNone};
  table().bgemm(args, 0, m, 0, 1);
  for (int i = 0; i < m; ++i)
    // The sum starts at +0 and adds the zero pad's product first: a -0 ends as +0.
    EXPECT_EQ(to_bits(c[i]), to_bits(0.f + round_to_bf16(a[i]))) << "a = " << a[i];
}

TEST_P(BGemmTest, MatchesReferenceAroundTile) {
  // 16 and 17 rows: the AMX kernel's tile of 32 rows uses one or two row tiles.
  const std::vector<int> ms = around_tile(table().bgemm_mr, {16, 17, 67, 130});
  const std::vector<int> ns = around_tile(table().bgemm_nr, {3 * table().bgemm_nr + 5, 384});
  for (int m : ms)
    for (int n : ns)
      // 32 and 65: one whole step of AMX's 32 k, and two steps and one k.
      for (int k : {1, 2, 7, 16, 32, 33, 65, 384})
        for (Epilogue ep : kAllEpilogues) {
          const bool strided = ((m + n + k) & 1) != 0;
          check_against_ref(table(), {m, n, k, strided ? k + 3 : k, strided ? n + 5 : n}, ep,
                            rng_);
          if (HasFailure()) return;
        }
}

TEST_P(BGemmTest, MatchesReferenceAtLargeAndSmallMagnitudes) {
  // Products near 1e30 and 1e-30 (normal in fp32): no flush, no overflow.
  for (float scale : {1e15f, 1e-15f, 1e-3f})
    for (Epilogue ep : {Epilogue::kNone, Epilogue::kBiasResidual}) {
      check_against_ref(table(), {13, 37, 384, 384, 37}, ep, rng_, scale);
      if (HasFailure()) return;
    }
}

TEST_P(BGemmTest, ResidualAliasesOutput) {
  const int m = 19, n = 70, k = 65;
  const std::vector<float> a = random_floats(static_cast<std::size_t>(m) * k, rng_);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(n) * k, rng_);
  const std::vector<float> bias = random_floats(n, rng_);
  std::vector<float> c = random_floats(static_cast<std::size_t>(m) * n, rng_);
  std::vector<float> want = c;
  PackedWeights packed, ref_packed;
  table().bgemm_pack(w.data(), n, k, &packed);
  ref::bgemm_pack(w.data(), n, k, &ref_packed);
  GemmArgs args{m, a.data(), k, &packed, bias.data(), c.data(), n, c.data(), n,
                Epilogue::kBiasResidual};
  table().bgemm(args, 0, m, 0, n);
  args.w = &ref_packed;
  args.residual = args.c = want.data();
  reference_for(table())(args, 0, m, 0, n);
  EXPECT_EQ(0, std::memcmp(c.data(), want.data(), c.size() * sizeof(float)));
}

TEST_P(BGemmTest, SplitsMatchWholeCall) {
  const int m = 67, n = 3 * table().bgemm_nr + 5, k = 33;
  const std::vector<float> a = random_floats(static_cast<std::size_t>(m) * k, rng_);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(n) * k, rng_);
  const std::vector<float> bias = random_floats(n, rng_);
  PackedWeights packed;
  table().bgemm_pack(w.data(), n, k, &packed);
  std::vector<float> whole(static_cast<std::size_t>(m) * n), parts(whole.size()),
      threaded(whole.size());
  GemmArgs args{m, a.data(), k, &packed, bias.data(), nullptr, 0, whole.data(), n,
                Epilogue::kBiasGelu};
  table().bgemm(args, 0, m, 0, n);
  args.c = parts.data();
  const int nr = table().bgemm_nr;
  for (int r0 = 0; r0 < m; r0 += 10)
    for (int c0 = 0; c0 < n; c0 += nr)
      table().bgemm(args, r0, std::min(m, r0 + 10), c0, std::min(n, c0 + nr));
  EXPECT_EQ(0, std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)));
  // gemm_parallel sends bf16 weights to the bf16 GEMM.
  ThreadPool pool(3);
  args.c = threaded.data();
  gemm_parallel(table(), args, pool);
  EXPECT_EQ(0, std::memcmp(whole.data(), threaded.data(), whole.size() * sizeof(float)));
}

// The scheme against fp32: inputs rounded to 8 significant bits each, so on
// uniform data (k = 384) the normalised error is about 2^-9 * sqrt(2) ~
// 0.3 %; 1 % still fails on any wrong pairing, column or rounding mode
// that truncates.
TEST_P(BGemmTest, SchemeIsCloseToFloatGemm) {
  const int m = 40, n = 96, k = 384;
  const std::vector<float> a = random_floats(static_cast<std::size_t>(m) * k, rng_);
  const std::vector<float> w = random_floats(static_cast<std::size_t>(n) * k, rng_);
  PackedWeights packed;
  table().bgemm_pack(w.data(), n, k, &packed);
  std::vector<float> c(static_cast<std::size_t>(m) * n);
  GemmArgs args{m, a.data(), k, &packed, nullptr, nullptr, 0, c.data(), n, Epilogue::kNone};
  table().bgemm(args, 0, m, 0, n);
  double err = 0, norm = 0, err_vs_rounded = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double exact = 0, rounded = 0, sum_abs = 0;
      for (int p = 0; p < k; ++p) {
        exact += static_cast<double>(a[i * k + p]) * w[j * k + p];
        const double t = static_cast<double>(round_to_bf16(a[i * k + p])) *
                         round_to_bf16(w[j * k + p]);
        rounded += t;
        sum_abs += std::fabs(t);
      }
      const double got = c[static_cast<std::size_t>(i) * n + j];
      err += (got - exact) * (got - exact);
      norm += exact * exact;
      // The fp32 pairwise sum of the rounded products: k additions.
      err_vs_rounded = std::max(err_vs_rounded, std::fabs(got - rounded) / (sum_abs * k));
    }
  EXPECT_LT(std::sqrt(err / norm), 0.01);
  EXPECT_LE(err_vs_rounded, std::ldexp(1.0, -24));
}

INSTANTIATE_TEST_SUITE_P(Tables, BGemmTest, ::testing::ValuesIn(bf16_tables()), table_name);

// The AMX table is there exactly when the CPU, the OS and the kernel's
// permission allow it (cpu_features().amx_status says which check failed).
TEST(BGemmDispatch, AmxTableMatchesCpu) {
  const CpuFeatures& f = cpu_features();
  const KernelTable* t = amx_kernels();
  if (t == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build with -mamx-tile";
  const bool runs = f.avx2 && f.fma && f.avx512f && f.avx512_vnni && f.avx512vl && f.avx512bw &&
                    f.avx512_bf16 && f.amx_bf16 && f.amx_int8;
  EXPECT_EQ(cpu_runs(t), runs);
  EXPECT_FALSE(f.amx_status.empty());
  if (!runs)
    GTEST_SKIP() << "NOT RUN: AMX is not usable on this CPU (" << f.brand
                 << "): " << f.amx_status << "; the " << t->bgemm_name << " and "
                 << t->qgemm_name << " kernels are not tested here on hardware (their "
                 << "emulated twins are)";
  EXPECT_EQ(f.amx_status, "usable");
  EXPECT_STREQ(available_kernels().front()->isa, "amx");
  std::printf("bgemm_test: %s and %s run on this CPU's AMX tiles\n", t->bgemm_name,
              t->qgemm_name);
}

// The emulated AMX table is never offered to run a model.
TEST(BGemmDispatch, EmulatedAmxIsNeverAvailable) {
  const KernelTable* t = amx_emulated_kernels();
  if (t == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build";
  for (const KernelTable* available : available_kernels()) EXPECT_NE(available, t);
  EXPECT_STREQ(t->implemented_by.bgemm, "amx_emulated");
  EXPECT_STREQ(t->implemented_by.qgemm, "amx_emulated");
  EXPECT_STREQ(t->implemented_by.attention_bf16, "amx_emulated");
  if (amx_kernels() != nullptr)  // built by a compiler with -mamx-tile
    EXPECT_STREQ(amx_kernels()->implemented_by.attention_bf16, "amx");
}

// The AVX512-BF16 table is there exactly when the CPU can run it, and says so
// when it is not.
TEST(BGemmDispatch, Avx512Bf16TableMatchesCpu) {
  const CpuFeatures& f = cpu_features();
  const KernelTable* t = avx512bf16_kernels();
  if (t == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build";
  const bool runs = f.avx2 && f.fma && f.avx512f && f.avx512_vnni && f.avx512vl && f.avx512bw &&
                    f.avx512_bf16;
  EXPECT_EQ(cpu_runs(t), runs);
  if (!runs)
    GTEST_SKIP() << "NOT RUN: this CPU (" << f.brand << ") lacks AVX512-BF16: the "
                 << t->bgemm_name << " kernel is not tested here";
  EXPECT_STREQ(available_kernels().front()->isa, "avx512bf16");
}

// The Arm BF16 tables are there exactly when HWCAP2 lists BF16 (and I8MM for
// the table with both), and say so when they are not.
TEST(BGemmDispatch, ArmBf16TablesMatchCpu) {
  const KernelTable* t = neon_bf16_kernels();
  if (t == nullptr) GTEST_SKIP() << "NOT RUN: not an AArch64 build with +bf16";
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(cpu_runs(t), f.arm_bf16);
  ASSERT_NE(neon_i8mm_bf16_kernels(), nullptr);
  EXPECT_EQ(cpu_runs(neon_i8mm_bf16_kernels()), f.arm_bf16 && f.arm_i8mm);
  if (!f.arm_bf16)
    GTEST_SKIP() << "NOT RUN: this CPU lacks Arm BF16 (HWCAP2_BF16): the " << t->bgemm_name
                 << " kernel is not tested here";
  std::printf("bgemm_test: %s runs on this CPU (HWCAP2_BF16)\n", t->bgemm_name);
  EXPECT_STREQ(available_kernels().front()->isa,
               f.arm_i8mm ? "neon_i8mm_bf16" : "neon_bf16");
}

// A table with a bf16 GEMM has all of it.
TEST(BGemmDispatch, TablesAreComplete) {
  for (const KernelTable* t : bf16_tables()) {
    EXPECT_NE(t->bgemm_name, nullptr) << t->isa;
    EXPECT_NE(t->bgemm_pack, nullptr) << t->isa;
    EXPECT_GE(t->bgemm_mr, 1);
    EXPECT_GE(t->bgemm_nr, 1);
  }
}


// ---- attention on bf16 ------------------------------------------------------
//
// Every table's attention_bf16_heads gives ref::attention_bf16_heads' bits
// (the reference writes out the contract's roundings, kernels.h), over
// lengths around the 32-key panels and 8-row strips, odd head widths, large
// scores and sliding windows; the reference itself stays within bf16's error
// of the fp32 attention and is not the fp32 attention.
namespace bf16_attention {

std::vector<const KernelTable*> tables() {
  std::vector<const KernelTable*> out;
  for (const KernelTable* t : bf16_tables())
    if (t->attention_bf16_heads != nullptr && t != &ref_kernels()) out.push_back(t);
  return out;
}

struct Problem {
  int seq_len, num_heads, head_dim;
  float scale;
  int window = 0;
  int ld_qkv() const { return 3 * num_heads * head_dim + 5; }  // a row stride past the row
  int ld_out() const { return num_heads * head_dim + 3; }
};

constexpr float kSentinel = -1234.5f;

// Runs op (all heads, or one head per call) on the problem's qkv and returns
// the output rows (padding columns must keep kSentinel).
template <class Op>
std::vector<float> run(Op op, const Problem& pr, const std::vector<float>& qkv, bool by_head,
                       int num_queries = -1, int query_position = 0) {
  if (num_queries < 0) num_queries = pr.seq_len;
  std::vector<float> out(static_cast<std::size_t>(num_queries) * pr.ld_out(), kSentinel);
  std::vector<float> scratch(attention_scratch_floats(pr.seq_len, pr.head_dim));
  AttentionArgs args;
  args.qkv = qkv.data();
  args.ld_qkv = pr.ld_qkv();
  args.q = qkv.data() + static_cast<std::size_t>(query_position) * pr.ld_qkv();
  args.ld_q = pr.ld_qkv();
  args.num_queries = num_queries;
  args.query_position = query_position;
  args.out = out.data();
  args.ld_out = pr.ld_out();
  args.seq_len = pr.seq_len;
  args.num_heads = pr.num_heads;
  args.head_dim = pr.head_dim;
  args.scale = pr.scale;
  args.scratch = scratch.data();
  args.window = pr.window;
  if (by_head) {
    for (int h = 0; h < pr.num_heads; ++h) op(args, h, h + 1);
  } else {
    op(args, 0, pr.num_heads);
  }
  return out;
}

std::vector<Problem> problems() {
  std::vector<Problem> out;
  for (int seq_len : {1, 2, 3, 8, 9, 31, 32, 33, 64, 100, 130})
    for (int head_dim : {64, 20, 7, 33}) {
      out.push_back({seq_len, 2, head_dim, 1.f / std::sqrt(static_cast<float>(head_dim))});
      out.push_back({seq_len, 1, head_dim, 12.f});  // scores up to hundreds: softmax peaks
    }
  for (int window : {2, 5, 16, 64})
    for (int seq_len : {9, 50, 130}) out.push_back({seq_len, 2, 64, 0.125f, window});
  return out;
}

// The reference a table's attention on bf16 must equal bit for bit: the
// AMX kernel sums in tdpbf16ps's order, the AVX512-BF16 one in vdpbf16ps's.
using AttentionFn = void (*)(const AttentionArgs&, int, int);
AttentionFn attention_reference_for(const KernelTable& table) {
  const char* isa = table.implemented_by.attention_bf16;
  if (isa != nullptr && (std::strcmp(isa, "amx") == 0 || std::strcmp(isa, "amx_emulated") == 0))
    return ref::attention_bf16_heads_amx;
  return ref::attention_bf16_heads;
}

class Bf16AttentionTest : public ::testing::TestWithParam<const KernelTable*> {
 protected:
  void SetUp() override {
    const std::string why =
        testing::not_run_reason(GetParam(), "attention on bf16", requirement(GetParam()));
    if (!why.empty()) GTEST_SKIP() << why;
  }
  std::mt19937_64 rng_{test_seed()};
};

TEST_P(Bf16AttentionTest, MatchesReferenceBitForBit) {
  const KernelTable& table = *GetParam();
  for (const Problem& pr : problems()) {
    SCOPED_TRACE(::testing::Message() << table.isa << " seq_len=" << pr.seq_len
                                      << " head_dim=" << pr.head_dim << " scale=" << pr.scale
                                      << " window=" << pr.window);
    const std::vector<float> qkv =
        random_floats(static_cast<std::size_t>(pr.seq_len) * pr.ld_qkv(), rng_);
    const std::vector<float> want = run(attention_reference_for(table), pr, qkv, false);
    const std::vector<float> got = run(table.attention_bf16_heads, pr, qkv, false);
    ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
    const std::vector<float> by_head = run(table.attention_bf16_heads, pr, qkv, true);
    ASSERT_EQ(0, std::memcmp(want.data(), by_head.data(), want.size() * sizeof(float)));
    // The last layer's [CLS]-only block: one query row, then rows from the middle.
    const std::vector<float> first = run(table.attention_bf16_heads, pr, qkv, false, 1);
    ASSERT_EQ(0, std::memcmp(want.data(), first.data(), pr.ld_out() * sizeof(float)));
    if (pr.seq_len > 3) {
      const int from = pr.seq_len / 3, count = pr.seq_len - from;
      const std::vector<float> tail = run(table.attention_bf16_heads, pr, qkv, false, count, from);
      ASSERT_EQ(0, std::memcmp(want.data() + static_cast<std::size_t>(from) * pr.ld_out(),
                               tail.data(), tail.size() * sizeof(float)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tables, Bf16AttentionTest, ::testing::ValuesIn(tables()), table_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Bf16AttentionTest);

// The reference against the fp32 attention at BERT's scale 1 / sqrt(head_dim)
// (scores of order 1: at scale 12 a score's rounding error of 2^-8 |score|
// moves the softmax by tens of percent, as it would in any bf16 attention):
// inputs rounded to 8 significant bits move each output (a convex
// combination of |v| <= 1) by about 2^-8 here; 0.02 still fails on a wrong
// pairing or a missing weight, and some outputs must differ (the roundings
// happen).
TEST(Bf16AttentionReference, CloseToFloatAttentionButRounded) {
  std::mt19937_64 rng(test_seed());
  for (const Problem& pr : problems()) {
    if (pr.scale > 1.f) continue;
    SCOPED_TRACE(::testing::Message() << "seq_len=" << pr.seq_len << " head_dim=" << pr.head_dim
                                      << " window=" << pr.window);
    const std::vector<float> qkv =
        random_floats(static_cast<std::size_t>(pr.seq_len) * pr.ld_qkv(), rng);
    const std::vector<float> fp32 = run(ref::attention_heads, pr, qkv, false);
    const std::vector<float> bf16 = run(ref::attention_bf16_heads, pr, qkv, false);
    double max_err = 0;
    int differ = 0;
    for (std::size_t i = 0; i < fp32.size(); ++i) {
      max_err = std::max(max_err, std::fabs(static_cast<double>(fp32[i]) - bf16[i]));
      differ += fp32[i] != bf16[i];
    }
    EXPECT_LT(max_err, 0.02);
    EXPECT_GT(differ, 0);
  }
}

// The AVX512-BF16 table has attention on bf16 exactly when the CPU runs it.
TEST(Bf16AttentionDispatch, Avx512Bf16TableHasIt) {
  const KernelTable* t = avx512bf16_kernels();
  if (t == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build";
  EXPECT_NE(t->attention_bf16_heads, nullptr);
  EXPECT_STREQ(t->implemented_by.attention_bf16, "avx512bf16");
  EXPECT_NE(ref_kernels().attention_bf16_heads, nullptr);
  if (avx512vnni_kernels() != nullptr)
    EXPECT_EQ(avx512vnni_kernels()->attention_bf16_heads, nullptr);
}

}  // namespace bf16_attention

}  // namespace
}  // namespace crossrank::kernels
