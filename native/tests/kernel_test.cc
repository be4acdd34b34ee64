// Every kernel table this CPU can run, every op, against a double-precision
// computation written here (and so against the reference table, which is
// held to the same limits). Sizes are chosen around each table's micro-tile:
// equal to it, one below, one above, and not a multiple of it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernel_test_helpers.h"

namespace crossrank::kernels {
namespace {

// ---- error limits -------------------------------------------------------

// Unit roundoff of float.
constexpr double kU = 1.0 / (1 << 24);
// GEMM: a k-term float dot product, in any order, with or without FMA, is
// within gamma_k = k u / (1 - k u) of sum |a_p w_p| (Higham, Accuracy and
// Stability of Numerical Algorithms, 3.1). We allow (k + 2) u of that sum,
// plus kGemmEpilogueUlps roundings of each term the epilogue adds.
constexpr double kGemmEpilogueUlps = 4;
// GELU: the vectorised erf is within 4e-7 of erf over the line, so GELU is
// within 2e-7 |x|; cancellation in 1 + erf for x < 0 adds a few 1e-8
// absolute. Allowed error: kGeluTol * max(1, |x|).
constexpr double kGeluTol = 5e-7;
// tanh: library tanh on floats, within a few ulp.
constexpr double kTanhRelTol = 4 * kU;
// LayerNorm: outputs are O(1); a float kernel loses a few ulp in the mean,
// variance and scaling. Allowed error: kLayerNormTol * (1 + |y|).
constexpr double kLayerNormTol = 2e-6;
// Attention: outputs are convex combinations of v (|v| <= 1 here). A float
// score is within (d + 2) u * scale * sum_t |q_t k_t| (the GEMM bound), and
// an error e in the scores (or in their max) scales a weight by exp(e), so
// twice the largest such bound in the row is added to kAttentionTol, which
// covers exp, the sum of weights and the weighted sum of v.
constexpr double kAttentionTol = 1e-5;

// ---- seeded random data (kernel_test_helpers.h) ---------------------------

using testing::around_tile;
using testing::epilogue_name;
using testing::kAllEpilogues;
std::uint64_t test_seed() { return testing::test_seed("kernel_test"); }
std::vector<float> random_vector(std::size_t n, std::mt19937_64& rng, float lo = -1.f,
                                 float hi = 1.f) {
  return testing::random_floats(n, rng, lo, hi);
}

constexpr float kSentinel = -12345.5f;

// ---- parameterisation over tables --------------------------------------

class KernelTableTest : public ::testing::TestWithParam<const KernelTable*> {
 protected:
  const KernelTable& table() const { return *GetParam(); }
  std::mt19937_64 rng_{test_seed()};
};

// Names the table in failure messages instead of printing its address.
}  // namespace
void PrintTo(const KernelTable* t, std::ostream* os) { *os << t->isa; }
namespace {

using testing::table_name;

// ---- GEMM --------------------------------------------------------------

double gelu_double(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

struct GemmCase {
  int m, n, k;
  int lda, ldc;
  float scale = 1.f;  // magnitude of a and w
  bool zero_a = false;
};

// Runs table.gemm on one case for one epilogue and checks every element
// against a double computation; checks that row padding is left untouched.
// With alias_residual, c is the residual buffer itself.
void check_gemm(const KernelTable& table, const GemmCase& g, Epilogue ep,
                bool alias_residual, std::mt19937_64& rng) {
  SCOPED_TRACE(::testing::Message() << table.isa << " m=" << g.m << " n=" << g.n
                                    << " k=" << g.k << " lda=" << g.lda << " ldc=" << g.ldc
                                    << " scale=" << g.scale << " zero_a=" << g.zero_a
                                    << " epilogue=" << epilogue_name(ep)
                                    << " alias=" << alias_residual);
  std::vector<float> a = random_vector(static_cast<std::size_t>(g.m) * g.lda, rng);
  std::vector<float> w = random_vector(static_cast<std::size_t>(g.n) * g.k, rng);
  for (float& x : a) x = g.zero_a ? 0.f : x * g.scale;
  for (float& x : w) x *= g.scale;
  std::vector<float> bias = random_vector(g.n, rng);
  const int ldr = alias_residual ? g.ldc : g.n + 2;
  std::vector<float> residual = random_vector(static_cast<std::size_t>(g.m) * ldr, rng);
  std::vector<float> c(static_cast<std::size_t>(g.m) * g.ldc, kSentinel);
  if (alias_residual) {
    for (int i = 0; i < g.m; ++i)
      for (int j = 0; j < g.n; ++j) c[i * g.ldc + j] = residual[i * ldr + j];
  }
  const std::vector<float> residual_in = residual;

  PackedWeights packed;
  table.gemm_pack(w.data(), g.n, g.k, &packed);
  ASSERT_EQ(packed.n, g.n);
  ASSERT_EQ(packed.k, g.k);
  ASSERT_STREQ(packed.packed_for, table.gemm_name);

  GemmArgs args;
  args.m = g.m;
  args.a = a.data();
  args.lda = g.lda;
  args.w = &packed;
  args.bias = ep == Epilogue::kNone ? nullptr : bias.data();
  args.residual = ep == Epilogue::kBiasResidual ? (alias_residual ? c.data() : residual.data())
                                                : nullptr;
  args.ldr = ldr;
  args.c = c.data();
  args.ldc = g.ldc;
  args.epilogue = ep;
  table.gemm(args, 0, g.m, 0, g.n);

  int failures = 0;
  for (int i = 0; i < g.m && failures < 5; ++i) {
    for (int j = 0; j < g.ldc && failures < 5; ++j) {
      const float got = c[i * g.ldc + j];
      if (j >= g.n) {
        if (!(got == kSentinel || alias_residual)) {
          ADD_FAILURE() << "padding written at row " << i << " col " << j;
          ++failures;
        }
        continue;
      }
      double dot = 0, sum_abs = 0;
      for (int p = 0; p < g.k; ++p) {
        const double t = static_cast<double>(a[i * g.lda + p]) * w[j * g.k + p];
        dot += t;
        sum_abs += std::fabs(t);
      }
      double extra = 0;  // magnitudes the epilogue adds in float
      double want = dot;
      if (ep != Epilogue::kNone) {
        want += bias[j];
        extra += std::fabs(bias[j]) + std::fabs(want);
      }
      if (ep == Epilogue::kBiasResidual) {
        want += residual_in[i * ldr + j];
        extra += std::fabs(residual_in[i * ldr + j]) + std::fabs(want);
      }
      double tol = (g.k + 2) * kU * sum_abs + kGemmEpilogueUlps * kU * extra;
      if (ep == Epilogue::kBiasGelu) {
        // gelu' is at most 1.13, then the GELU's own error.
        tol = 1.13 * tol + kGeluTol * std::max(1.0, std::fabs(want));
        want = gelu_double(want);
      }
      if (!(std::fabs(got - want) <= tol)) {
        ADD_FAILURE() << "c[" << i << "][" << j << "] = " << got << ", want " << want
                      << " (tol " << tol << ")";
        ++failures;
      }
    }
  }
}

TEST_P(KernelTableTest, GemmSizesAroundTile) {
  const std::vector<int> ms = around_tile(table().gemm_mr, {67, 300});
  std::vector<int> ns = around_tile(table().gemm_nr, {3 * table().gemm_nr + 5, 384});
  const int ks[] = {1, 7, 16, 33, 384};
  for (int m : ms)
    for (int n : ns)
      for (int k : ks)
        for (Epilogue ep : kAllEpilogues) {
          // Dense rows for one half of the cases, padded rows for the other.
          const bool strided = ((m + n + k) & 1) != 0;
          const GemmCase g{m, n, k, strided ? k + 3 : k, strided ? n + 5 : n};
          check_gemm(table(), g, ep, /*alias_residual=*/false, rng_);
          if (HasFailure()) return;
        }
}

TEST_P(KernelTableTest, GemmStridedEverywhere) {
  for (int m : {1, 7, 67})
    for (int n : {1, 17, 53, 384})
      for (Epilogue ep : kAllEpilogues) {
        const GemmCase g{m, n, 33, 33 + 9, n + 11};
        check_gemm(table(), g, ep, false, rng_);
        if (HasFailure()) return;
      }
}

TEST_P(KernelTableTest, GemmResidualAliasesOutput) {
  for (int m : {1, 5, 13, 67})
    for (int n : {3, 16, 37, 384})
      for (int ldc_pad : {0, 4}) {
        const GemmCase g{m, n, 33, 33, n + ldc_pad};
        check_gemm(table(), g, Epilogue::kBiasResidual, /*alias_residual=*/true, rng_);
        if (HasFailure()) return;
      }
}

TEST_P(KernelTableTest, GemmSpecialValues) {
  for (Epilogue ep : kAllEpilogues) {
    GemmCase zeros{13, 37, 33, 33, 37};
    zeros.zero_a = true;  // c is exactly the epilogue of 0
    check_gemm(table(), zeros, ep, false, rng_);
    GemmCase large{13, 37, 384, 384, 37};
    large.scale = 1e15f;  // products near 1e30, sums far from overflow
    check_gemm(table(), large, ep, false, rng_);
    GemmCase small{13, 37, 384, 384, 37};
    small.scale = 1e-15f;
    check_gemm(table(), small, ep, false, rng_);
    if (HasFailure()) return;
  }
}

TEST_P(KernelTableTest, GemmSubBlocksMatchWholeCall) {
  // Blocks on micro-tile boundaries must give exactly what one call gives.
  const int m = 67, n = 3 * table().gemm_nr + 5, k = 33;
  std::vector<float> a = random_vector(static_cast<std::size_t>(m) * k, rng_);
  std::vector<float> w = random_vector(static_cast<std::size_t>(n) * k, rng_);
  std::vector<float> bias = random_vector(n, rng_);
  PackedWeights packed;
  table().gemm_pack(w.data(), n, k, &packed);
  std::vector<float> whole(static_cast<std::size_t>(m) * n), parts(whole.size());
  GemmArgs args{m, a.data(), k, &packed, bias.data(), nullptr, 0, whole.data(), n,
                Epilogue::kBiasGelu};
  table().gemm(args, 0, m, 0, n);
  args.c = parts.data();
  const int nr = table().gemm_nr;
  for (int r0 = 0; r0 < m; r0 += 10)
    for (int c0 = 0; c0 < n; c0 += nr)
      table().gemm(args, r0, std::min(m, r0 + 10), c0, std::min(n, c0 + nr));
  EXPECT_EQ(0, std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)));
}

TEST_P(KernelTableTest, GemmParallelEqualsSingleCall) {
  struct Shape {
    int m, n, k;
  };
  const Shape shapes[] = {{1, 384, 64}, {5, 1536, 33}, {67, 53, 33}, {300, 384, 64},
                          {2, 7, 3},
                          // Enough rows that the split is by rows only.
                          {2503, 37, 9}};
  for (const Shape& s : shapes) {
    for (Epilogue ep : {Epilogue::kBiasGelu, Epilogue::kBiasResidual}) {
      SCOPED_TRACE(::testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k
                                        << " epilogue=" << epilogue_name(ep));
      std::vector<float> a = random_vector(static_cast<std::size_t>(s.m) * s.k, rng_);
      std::vector<float> w = random_vector(static_cast<std::size_t>(s.n) * s.k, rng_);
      std::vector<float> bias = random_vector(s.n, rng_);
      std::vector<float> residual = random_vector(static_cast<std::size_t>(s.m) * s.n, rng_);
      PackedWeights packed;
      table().gemm_pack(w.data(), s.n, s.k, &packed);
      std::vector<float> single(residual.size());
      GemmArgs args{s.m, a.data(), s.k, &packed, bias.data(), residual.data(), s.n,
                    single.data(), s.n, ep};
      table().gemm(args, 0, s.m, 0, s.n);
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<float> out(residual.size(), kSentinel);
        args.c = out.data();
        gemm_parallel(table(), args, pool);
        EXPECT_EQ(0, std::memcmp(single.data(), out.data(), out.size() * sizeof(float)))
            << "pool of " << threads;

        // A column range (as the last layer computes only K and V of the
        // fused QKV) gives exactly those columns and leaves the rest alone.
        const int nr = table().gemm_nr;
        const int col_begin = std::min(s.n / 3 / nr * nr, s.n - 1) / nr * nr;
        const int col_end = std::min(s.n, col_begin + 2 * nr + 1) == s.n
                                ? s.n
                                : col_begin + 2 * nr;
        std::fill(out.begin(), out.end(), kSentinel);
        gemm_parallel_columns(table(), args, col_begin, col_end, pool);
        for (int r = 0; r < s.m; ++r) {
          for (int c = 0; c < s.n; ++c) {
            const std::size_t i = static_cast<std::size_t>(r) * s.n + c;
            if (c >= col_begin && c < col_end) {
              ASSERT_EQ(out[i], single[i]) << "row " << r << " col " << c;
            } else {
              ASSERT_EQ(out[i], kSentinel) << "row " << r << " col " << c << " written";
            }
          }
        }
      }
    }
  }
}

// ---- element-wise ops ----------------------------------------------------

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> activation_inputs(std::mt19937_64& rng) {
  std::vector<float> x = {0.f,   -0.f,   kInf,  -kInf, kNaN,   1e30f, -1e30f, 1e-30f,
                          -1e-30f, 1.f,  -1.f,  3.9f,  -3.9f,  5.7f,  -5.7f,  10.f,
                          -10.f, 12.5f, -12.5f, 88.f,  -88.f,  1e4f,  -1e4f};
  // Branch points of vectorised kernels (tanh switches formula at |x| =
  // 0.625 and rounds to +-1 from about 9), subnormals, the largest float.
  const float more[] = {0.625f, -0.625f, 0.62499994f, -0.62500006f, 9.f,  -9.1f,
                        1e-40f, -1e-40f, 1e-7f,       -3e-4f,       0.1f, 3.4e38f,
                        -3.4e38f};
  x.insert(x.end(), std::begin(more), std::end(more));
  const std::vector<float> r = random_vector(1000, rng, -8.f, 8.f);
  x.insert(x.end(), r.begin(), r.end());
  return x;
}

void check_activation(void (*op)(float*, std::size_t), double (*want_fn)(double),
                      double (*tol_fn)(double, double), const std::vector<float>& input) {
  // Every length up to 33 (vector tails), then all of it.
  std::vector<std::size_t> counts;
  for (std::size_t c = 1; c <= 33; ++c) counts.push_back(c);
  counts.push_back(input.size());
  for (std::size_t count : counts) {
    for (std::size_t start = 0; start + count <= input.size(); start += count > 33 ? count : 5) {
      std::vector<float> x(input.begin() + start, input.begin() + start + count);
      x.push_back(kSentinel);
      op(x.data(), count);
      ASSERT_EQ(x[count], kSentinel) << "wrote past count " << count;
      for (std::size_t i = 0; i < count; ++i) {
        const double in = input[start + i];
        const double want = want_fn(in);
        const double got = x[i];
        if (std::isnan(want)) {
          ASSERT_TRUE(std::isnan(got)) << "x=" << in;
        } else if (std::isinf(want)) {
          ASSERT_EQ(got, want) << "x=" << in;
        } else {
          ASSERT_LE(std::fabs(got - want), tol_fn(in, want)) << "x=" << in << " got " << got
                                                            << " want " << want;
        }
      }
    }
  }
}

TEST_P(KernelTableTest, GeluErf) {
  check_activation(
      table().gelu_erf, gelu_double,
      [](double x, double) { return kGeluTol * std::max(1.0, std::fabs(x)); },
      activation_inputs(rng_));
}

TEST_P(KernelTableTest, Tanh) {
  check_activation(
      table().tanh, [](double x) { return std::tanh(x); },
      [](double, double want) { return kTanhRelTol * std::fabs(want) + 1e-38; },
      activation_inputs(rng_));
}

TEST_P(KernelTableTest, TanhDenseSweep) {
  // Every 97th float from 1e-6 to 10, both signs: covers both formulas of
  // a split kernel and the crossover between them far more densely than
  // the random inputs.
  std::vector<float> x;
  std::uint32_t lo, hi;
  const float from = 1e-6f, to = 10.f;
  std::memcpy(&lo, &from, 4);
  std::memcpy(&hi, &to, 4);
  for (std::uint32_t b = lo; b <= hi; b += 97) {
    float v;
    std::memcpy(&v, &b, 4);
    x.push_back(v);
    x.push_back(-v);
  }
  std::vector<float> y = x;
  table().tanh(y.data(), y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::tanh(static_cast<double>(x[i]));
    ASSERT_LE(std::fabs(y[i] - want), kTanhRelTol * std::fabs(want)) << "x=" << x[i];
  }
}

// ---- LayerNorm -----------------------------------------------------------

enum class LnAlias { kNone, kOutIsX, kOutIsResidual };

void check_layernorm(const KernelTable& table, int rows, int cols, bool with_residual,
                     LnAlias alias, float offset, std::mt19937_64& rng) {
  SCOPED_TRACE(::testing::Message() << table.isa << " rows=" << rows << " cols=" << cols
                                    << " residual=" << with_residual << " alias="
                                    << static_cast<int>(alias) << " offset=" << offset);
  const int ld = cols + 3;
  std::vector<float> x = random_vector(static_cast<std::size_t>(rows) * ld, rng);
  for (float& v : x) v += offset;
  std::vector<float> res = random_vector(x.size(), rng);
  const std::vector<float> gamma = random_vector(cols, rng, 0.5f, 1.5f);
  const std::vector<float> beta = random_vector(cols, rng);
  std::vector<float> separate(x.size(), kSentinel);
  const std::vector<float> x_in = x, res_in = res;
  float* out = alias == LnAlias::kOutIsX ? x.data()
               : alias == LnAlias::kOutIsResidual ? res.data()
                                                  : separate.data();
  const float eps = 1e-12f;
  table.add_layernorm(x.data(), with_residual ? res.data() : nullptr, gamma.data(),
                      beta.data(), eps, rows, cols, ld, out);
  for (int r = 0; r < rows; ++r) {
    std::vector<double> s(cols);
    double mean = 0;
    for (int j = 0; j < cols; ++j) {
      // The residual sum is a float op in PyTorch, so round it as float.
      s[j] = with_residual ? static_cast<double>(x_in[r * ld + j] + res_in[r * ld + j])
                           : x_in[r * ld + j];
      mean += s[j];
    }
    mean /= cols;
    double var = 0;
    for (int j = 0; j < cols; ++j) var += (s[j] - mean) * (s[j] - mean);
    var /= cols;
    for (int j = 0; j < cols; ++j) {
      const double want = (s[j] - mean) / std::sqrt(var + eps) * gamma[j] + beta[j];
      const double got = out[r * ld + j];
      ASSERT_LE(std::fabs(got - want), kLayerNormTol * (1 + std::fabs(want)))
          << "row " << r << " col " << j;
    }
    if (alias == LnAlias::kNone) {
      for (int j = cols; j < ld; ++j) ASSERT_EQ(out[r * ld + j], kSentinel);
    }
  }
}

TEST_P(KernelTableTest, AddLayerNorm) {
  for (int rows : {1, 3})
    for (int cols : {1, 2, 7, 8, 9, 16, 17, 384, 385})
      for (bool with_residual : {false, true})
        for (LnAlias alias : {LnAlias::kNone, LnAlias::kOutIsX, LnAlias::kOutIsResidual}) {
          if (alias == LnAlias::kOutIsResidual && !with_residual) continue;
          check_layernorm(table(), rows, cols, with_residual, alias, 0.f, rng_);
          if (HasFailure()) return;
        }
}

TEST_P(KernelTableTest, AddLayerNormLargeMeanAndConstantRows) {
  // A mean far from zero: a one-pass E[x^2] - E[x]^2 variance fails here.
  check_layernorm(table(), 3, 384, true, LnAlias::kNone, 1000.f, rng_);
  // A constant row has zero variance: the output is beta (eps keeps it finite).
  const int cols = 37;
  std::vector<float> x(cols, 2.5f), gamma(cols, 1.f), beta = random_vector(cols, rng_);
  std::vector<float> out(cols);
  table().add_layernorm(x.data(), nullptr, gamma.data(), beta.data(), 1e-12f, 1, cols, cols,
                        out.data());
  for (int j = 0; j < cols; ++j) EXPECT_FLOAT_EQ(out[j], beta[j]);
}

// ---- attention -------------------------------------------------------------

// Full self-attention of seq_len rows of qkv (row stride ld_qkv) into out
// (row stride ld_out), scale 1 / sqrt(head_dim), with an optional window.
AttentionArgs self_attention_args(const float* qkv, int ld_qkv, float* out, int ld_out,
                                  int seq_len, int num_heads, int head_dim, float* scratch,
                                  int window) {
  AttentionArgs args;
  args.qkv = qkv;
  args.ld_qkv = ld_qkv;
  args.q = qkv;
  args.ld_q = ld_qkv;
  args.num_queries = seq_len;
  args.out = out;
  args.ld_out = ld_out;
  args.seq_len = seq_len;
  args.num_heads = num_heads;
  args.head_dim = head_dim;
  args.scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  args.scratch = scratch;
  args.window = window;
  return args;
}

// window > 0: sliding-window attention (AttentionArgs::window), checked
// against the same double computation over each query's window.
void check_attention(const KernelTable& table, int seq_len, int num_heads, int head_dim,
                     float qk_scale, std::mt19937_64& rng, int window = 0) {
  SCOPED_TRACE(::testing::Message() << table.isa << " seq_len=" << seq_len << " heads="
                                    << num_heads << " head_dim=" << head_dim
                                    << " qk_scale=" << qk_scale << " window=" << window);
  const int hidden = num_heads * head_dim;
  const int ld_qkv = 3 * hidden + 5, ld_out = hidden + 3;
  std::vector<float> qkv = random_vector(static_cast<std::size_t>(seq_len) * ld_qkv, rng);
  for (int i = 0; i < seq_len; ++i) {
    for (int c = 0; c < 2 * hidden; ++c) qkv[i * ld_qkv + c] *= qk_scale;
    // Column 0 of every head's v is 1, so that output column is the sum of
    // the softmax weights.
    for (int h = 0; h < num_heads; ++h) qkv[i * ld_qkv + 2 * hidden + h * head_dim] = 1.f;
  }
  const std::size_t scratch_floats = attention_scratch_floats(seq_len, head_dim);
  std::vector<float> scratch(scratch_floats + 16, kSentinel);
  std::vector<float> out(static_cast<std::size_t>(seq_len) * ld_out, kSentinel);
  AttentionArgs args = self_attention_args(qkv.data(), ld_qkv, out.data(), ld_out, seq_len,
                                           num_heads, head_dim, scratch.data(), window);
  table.attention(args);
  for (std::size_t i = scratch_floats; i < scratch.size(); ++i)
    ASSERT_EQ(scratch[i], kSentinel) << "scratch overrun";

  std::vector<double> p(seq_len);
  for (int h = 0; h < num_heads; ++h) {
    for (int i = 0; i < seq_len; ++i) {
      // The keys query i attends to, written out here rather than taken
      // from attended_keys(): |i - j| <= window / 2.
      const int half = window / 2;
      const int j0 = window > 0 ? std::max(0, i - half) : 0;
      const int j1 = window > 0 ? std::min(seq_len, i + half + 1) : seq_len;
      double max_s = -INFINITY, max_abs = 0;
      for (int j = j0; j < j1; ++j) {
        double s = 0, s_abs = 0;
        for (int t = 0; t < head_dim; ++t) {
          const double prod = static_cast<double>(qkv[i * ld_qkv + h * head_dim + t]) *
                              qkv[j * ld_qkv + hidden + h * head_dim + t];
          s += prod;
          s_abs += std::fabs(prod);
        }
        p[j] = s * args.scale;
        max_s = std::max(max_s, p[j]);
        max_abs = std::max(max_abs, s_abs * args.scale);
      }
      const double tol = kAttentionTol + 2 * (head_dim + 2) * kU * max_abs;
      double sum = 0;
      for (int j = j0; j < j1; ++j) sum += p[j] = std::exp(p[j] - max_s);
      for (int t = 0; t < head_dim; ++t) {
        double want = 0;
        for (int j = j0; j < j1; ++j)
          want += p[j] * qkv[j * ld_qkv + 2 * hidden + h * head_dim + t];
        want /= sum;
        const double got = out[i * ld_out + h * head_dim + t];
        ASSERT_LE(std::fabs(got - want), tol) << "head " << h << " row " << i << " col " << t;
      }
      ASSERT_NEAR(out[i * ld_out + h * head_dim], 1.0, kAttentionTol) << "weights sum";
    }
  }
  for (int i = 0; i < seq_len; ++i)
    for (int c = hidden; c < ld_out; ++c) ASSERT_EQ(out[i * ld_out + c], kSentinel);

  // Splitting the heads over calls gives exactly the same output.
  std::vector<float> split(out.size(), kSentinel);
  args.out = split.data();
  for (int h = 0; h < num_heads; ++h) table.attention_heads(args, h, h + 1);
  EXPECT_EQ(0, std::memcmp(out.data(), split.data(), out.size() * sizeof(float)));

  // Querying some rows only (every third, from a copy with its own stride,
  // as the last layer queries only [CLS]) gives exactly those rows of the
  // full output. With a window, the rows from seq_len / 3 on, their
  // position given by query_position.
  const int ld_q = hidden + 7;
  std::vector<int> picked;
  if (window > 0) {
    for (int i = seq_len / 3; i < seq_len; ++i) picked.push_back(i);
    args.query_position = seq_len / 3;
  } else {
    for (int i = 0; i < seq_len; i += 3) picked.push_back(i);
  }
  std::vector<float> queries(picked.size() * ld_q, kSentinel);
  for (std::size_t r = 0; r < picked.size(); ++r)
    std::copy_n(&qkv[picked[r] * ld_qkv], hidden, &queries[r * ld_q]);
  std::vector<float> some(picked.size() * ld_out, kSentinel);
  args.q = queries.data();
  args.ld_q = ld_q;
  args.num_queries = static_cast<int>(picked.size());
  args.out = some.data();
  table.attention(args);
  for (std::size_t r = 0; r < picked.size(); ++r) {
    ASSERT_EQ(0, std::memcmp(&some[r * ld_out], &out[picked[r] * ld_out], hidden * sizeof(float)))
        << "query row " << picked[r] << " alone differs from the full run";
    for (int c = hidden; c < ld_out; ++c) ASSERT_EQ(some[r * ld_out + c], kSentinel);
  }
}

TEST_P(KernelTableTest, Attention) {
  // Lengths around the AVX2 kernel's 16-key panels, 6-row strips and
  // 48-row blocks; head sizes below, at and between its 16-column tiles.
  for (int seq_len : {1, 2, 3, 6, 7, 16, 33, 48, 49, 130})
    for (int head_dim : {9, 20, 32, 64})
      for (int num_heads : {1, 3}) {
        check_attention(table(), seq_len, num_heads, head_dim, 1.f, rng_);
        if (HasFailure()) return;
      }
}

TEST_P(KernelTableTest, AttentionSlidingWindow) {
  // Windows narrower than, around and wider than the key panels (16, 32),
  // row strips and 48-row blocks, odd and even (window / 2 keys each side),
  // and wider than the sequence (every key).
  for (int seq_len : {1, 7, 49, 130})
    for (int window : {1, 2, 3, 16, 33, 64, 200}) {
      check_attention(table(), seq_len, 2, 20, 1.f, rng_, window);
      check_attention(table(), seq_len, 1, 64, 12.f, rng_, window);
      if (HasFailure()) return;
    }
}

TEST_P(KernelTableTest, AttentionLargeScores) {
  // Scores up to several hundred: exp overflows unless the row max is
  // subtracted first.
  for (int seq_len : {2, 17, 130}) check_attention(table(), seq_len, 2, 64, 12.f, rng_);
}

// The tables this CPU runs, best first, less the Arm BF16 / I8MM tables
// whose fp32 ops (the ones tested here) are all the very functions of the
// NEON table: they bring int8 and bf16 GEMMs only (tested in qgemm_test and
// bgemm_test) and would repeat NEON's runs under qemu.
std::vector<const KernelTable*> tables_with_distinct_fp32_ops() {
  std::vector<const KernelTable*> tables;
  const KernelTable* neon = neon_kernels();
  for (const KernelTable* t : available_kernels()) {
    const bool repeats_neon =
        neon != nullptr && t != neon && t->gemm == neon->gemm && t->gemm_pack == neon->gemm_pack &&
        t->add_layernorm == neon->add_layernorm && t->gelu_erf == neon->gelu_erf &&
        t->tanh == neon->tanh && t->attention == neon->attention &&
        t->attention_heads == neon->attention_heads;
    if (!repeats_neon) tables.push_back(t);
  }
  return tables;
}

INSTANTIATE_TEST_SUITE_P(Tables, KernelTableTest,
                         ::testing::ValuesIn(tables_with_distinct_fp32_ops()), table_name);

// ---- dispatch and CPU features -----------------------------------------------

TEST(Dispatch, TablesAreComplete) {
  const std::vector<const KernelTable*> tables = available_kernels();
  ASSERT_FALSE(tables.empty());
  EXPECT_EQ(tables.back(), &ref_kernels());
  for (const KernelTable* t : tables) {
    EXPECT_NE(t->isa, nullptr);
    EXPECT_NE(t->gemm_name, nullptr);
    EXPECT_GE(t->gemm_mr, 1);
    EXPECT_GE(t->gemm_nr, 1);
    EXPECT_NE(t->gemm_pack, nullptr);
    EXPECT_NE(t->gemm, nullptr);
    EXPECT_NE(t->add_layernorm, nullptr);
    EXPECT_NE(t->gelu_erf, nullptr);
    EXPECT_NE(t->tanh, nullptr);
    EXPECT_NE(t->attention, nullptr);
    EXPECT_NE(t->attention_heads, nullptr);
  }
}

// Each table says which table's code runs each of its ops (what `crossrank
// info` reports): that table must exist in this build and hold the very same
// function, and a table's own GEMMs are named after it.
TEST(Dispatch, ImplementedByNamesTheTableWhoseCodeRuns) {
  std::vector<const KernelTable*> built = {&ref_kernels()};
  for (const KernelTable* t :
       {avx2_kernels(), avx512_kernels(), avx512vnni_kernels(), neon_kernels(),
        neon_i8mm_kernels(), neon_bf16_kernels(), neon_i8mm_bf16_kernels()})
    if (t != nullptr) built.push_back(t);
  auto lender = [&](const char* isa) -> const KernelTable* {
    for (const KernelTable* t : built)
      if (isa != nullptr && std::strcmp(t->isa, isa) == 0) return t;
    return nullptr;
  };
  for (const KernelTable* t : built) {
    SCOPED_TRACE(t->isa);
    const KernelTable::Implementations& by = t->implemented_by;
    const KernelTable* u = lender(by.gemm);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->gemm, t->gemm);
    EXPECT_EQ(u->gemm_pack, t->gemm_pack);
    EXPECT_STREQ(u->gemm_name, t->gemm_name);
    ASSERT_NE(u = lender(by.qgemm), nullptr);
    EXPECT_EQ(u->qgemm, t->qgemm);
    EXPECT_EQ(u->qgemm_pack, t->qgemm_pack);
    EXPECT_STREQ(u->qgemm_name, t->qgemm_name);
    ASSERT_NE(u = lender(by.add_layernorm), nullptr);
    EXPECT_EQ(u->add_layernorm, t->add_layernorm);
    ASSERT_NE(u = lender(by.gelu_erf), nullptr);
    EXPECT_EQ(u->gelu_erf, t->gelu_erf);
    ASSERT_NE(u = lender(by.tanh), nullptr);
    EXPECT_EQ(u->tanh, t->tanh);
    ASSERT_NE(u = lender(by.attention), nullptr);
    EXPECT_EQ(u->attention, t->attention);
    EXPECT_EQ(u->attention_heads, t->attention_heads);
  }
  EXPECT_STREQ(ref_kernels().implemented_by.attention, "ref");
}

TEST(Dispatch, ActiveTableHonoursEnvironment) {
  const KernelTable& active = active_kernels();
  std::printf("active kernels: %s (%s); cpu: %s\n", active.isa, active.gemm_name,
              cpu_features().brand.c_str());
  const char* want = std::getenv("CROSSRANK_ISA");
  if (want != nullptr && std::strcmp(want, "ref") == 0) {
    EXPECT_EQ(&active, &ref_kernels());
  } else if (want != nullptr && std::strcmp(want, "avx2") == 0 && avx2_kernels() != nullptr &&
             available_kernels().front() != &ref_kernels()) {
    EXPECT_EQ(&active, avx2_kernels());
  } else {
    EXPECT_EQ(&active, available_kernels().front());
  }
}

TEST(Dispatch, Avx2TableMatchesCpu) {
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  ASSERT_NE(avx2_kernels(), nullptr);
#endif
  if (avx2_kernels() == nullptr || !(f.avx2 && f.fma)) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  const std::vector<const KernelTable*> tables = available_kernels();
  EXPECT_NE(std::find(tables.begin(), tables.end(), avx2_kernels()), tables.end());
  if (!f.avx512f) EXPECT_EQ(tables.front(), avx2_kernels());
}

TEST(Dispatch, Avx512TableMatchesCpu) {
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  ASSERT_NE(avx512_kernels(), nullptr);
#endif
  if (avx512_kernels() == nullptr || !(f.avx2 && f.fma && f.avx512f)) {
    GTEST_SKIP() << "CPU lacks AVX-512F: the avx512f table is not run here";
  }
  const std::vector<const KernelTable*> tables = available_kernels();
  EXPECT_NE(std::find(tables.begin(), tables.end(), avx512_kernels()), tables.end());
  if (!(f.avx512_vnni && f.avx512vl && f.avx512bw)) EXPECT_EQ(tables.front(), avx512_kernels());
  EXPECT_STREQ(avx512_kernels()->isa, "avx512f");
}

// The AVX-512 GEMM sums in the AVX2 GEMM's order and runs its epilogue code,
// so the two tables must agree bit for bit: choosing one changes speed only.
TEST(Dispatch, Avx512GemmEqualsAvx2BitForBit) {
  const CpuFeatures& f = cpu_features();
  if (avx512_kernels() == nullptr || avx2_kernels() == nullptr ||
      !(f.avx2 && f.fma && f.avx512f)) {
    GTEST_SKIP() << "CPU lacks AVX-512F: the avx512f table is not run here";
  }
  std::mt19937_64 rng(test_seed());
  const KernelTable* tables[] = {avx2_kernels(), avx512_kernels()};
  for (int m : {1, 7, 8, 9, 67, 300})
    for (int n : {1, 15, 16, 17, 31, 32, 33, 101, 384})
      for (int k : {1, 33, 384})
        for (Epilogue ep : kAllEpilogues) {
          SCOPED_TRACE(::testing::Message() << "m=" << m << " n=" << n << " k=" << k
                                            << " epilogue=" << epilogue_name(ep));
          const std::vector<float> a = random_vector(static_cast<std::size_t>(m) * k, rng, -3.f, 3.f);
          const std::vector<float> w = random_vector(static_cast<std::size_t>(n) * k, rng);
          const std::vector<float> bias = random_vector(n, rng);
          const std::vector<float> residual = random_vector(static_cast<std::size_t>(m) * n, rng);
          std::vector<float> out[2];
          for (int t = 0; t < 2; ++t) {
            PackedWeights packed;
            tables[t]->gemm_pack(w.data(), n, k, &packed);
            out[t].assign(static_cast<std::size_t>(m) * n, kSentinel);
            GemmArgs args{m, a.data(), k, &packed,
                          ep == Epilogue::kNone ? nullptr : bias.data(),
                          ep == Epilogue::kBiasResidual ? residual.data() : nullptr,
                          n, out[t].data(), n, ep};
            tables[t]->gemm(args, 0, m, 0, n);
          }
          ASSERT_EQ(0, std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)));
        }
}

// The AVX-512 attention runs the AVX2 one's chains of fused multiply-adds
// and its softmax code on wider tiles, so the two must agree bit for bit.
TEST(Dispatch, Avx512AttentionEqualsAvx2BitForBit) {
  const CpuFeatures& f = cpu_features();
  if (avx512_kernels() == nullptr || avx2_kernels() == nullptr ||
      !(f.avx2 && f.fma && f.avx512f)) {
    GTEST_SKIP() << "CPU lacks AVX-512F: the avx512f table is not run here";
  }
  std::mt19937_64 rng(test_seed());
  const KernelTable* tables[] = {avx2_kernels(), avx512_kernels()};
  // Lengths around both kernels' key panels (16, 32), row strips (6, 8) and
  // 48-row blocks; head sizes below, at, between and above their column
  // tiles (16, 32).
  // Sliding windows (0: none) narrower and wider than either panel.
  for (int seq_len : {1, 5, 8, 9, 16, 17, 31, 32, 33, 47, 48, 49, 64, 97, 130, 300})
    for (int head_dim : {7, 16, 20, 32, 33, 64})
      for (float qk_scale : {1.f, 12.f})
        for (int window : {0, 5, 40, 128}) {
          SCOPED_TRACE(::testing::Message() << "seq_len=" << seq_len << " head_dim=" << head_dim
                                            << " qk_scale=" << qk_scale << " window=" << window);
          const int num_heads = 2, hidden = num_heads * head_dim;
          const int ld_qkv = 3 * hidden + 3, ld_out = hidden + 1;
          std::vector<float> qkv = random_vector(static_cast<std::size_t>(seq_len) * ld_qkv, rng);
          for (int i = 0; i < seq_len; ++i)
            for (int c = 0; c < 2 * hidden; ++c) qkv[i * ld_qkv + c] *= qk_scale;
          std::vector<float> out[2];
          for (int t = 0; t < 2; ++t) {
            std::vector<float> scratch(attention_scratch_floats(seq_len, head_dim), kSentinel);
            out[t].assign(static_cast<std::size_t>(seq_len) * ld_out, kSentinel);
            tables[t]->attention(self_attention_args(qkv.data(), ld_qkv, out[t].data(), ld_out,
                                                     seq_len, num_heads, head_dim,
                                                     scratch.data(), window));
          }
          ASSERT_EQ(0,
                    std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)));
        }
}

TEST(Dispatch, Avx512VnniTableMatchesCpu) {
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  ASSERT_NE(avx512vnni_kernels(), nullptr);
#endif
  std::printf("cpu: avx512f %d avx512bw %d avx512vl %d avx512_vnni %d\n", f.avx512f, f.avx512bw,
              f.avx512vl, f.avx512_vnni);
  if (avx512vnni_kernels() == nullptr || !(f.avx2 && f.fma && f.avx512_vnni && f.avx512vl &&
                                           f.avx512bw))
    GTEST_SKIP() << "NOT RUN: this CPU lacks AVX-512 VNNI+VL+BW";
  const KernelTable& vnni = *avx512vnni_kernels();
  // On AVX512-BF16 CPUs the avx512bf16 table (this one plus the bf16 GEMM) comes first.
  const KernelTable* best = f.avx512_bf16 && avx512bf16_kernels() != nullptr
                                ? avx512bf16_kernels()
                                : &vnni;
  EXPECT_EQ(available_kernels().front(), best);
  EXPECT_STREQ(vnni.isa, "avx512vnni");
  // Only the int8 GEMM differs from the avx512f table.
  EXPECT_EQ(vnni.gemm, avx512_kernels()->gemm);
  EXPECT_EQ(vnni.attention_heads, avx512_kernels()->attention_heads);
  EXPECT_NE(vnni.qgemm, avx2_kernels()->qgemm);
  const char* want = std::getenv("CROSSRANK_ISA");
  if (want != nullptr && std::strcmp(want, "avx2") == 0) {
    EXPECT_EQ(&active_kernels(), avx2_kernels());
  } else if (want != nullptr && std::strcmp(want, "avx512") == 0) {
    EXPECT_EQ(&active_kernels(), avx512_kernels());
  } else if (want != nullptr && std::strcmp(want, "ref") == 0) {
    EXPECT_EQ(&active_kernels(), &ref_kernels());
  } else if (want != nullptr && std::strcmp(want, "avx512vnni") == 0) {
    EXPECT_EQ(&active_kernels(), &vnni);
  } else {
    EXPECT_EQ(&active_kernels(), best);
  }
}

TEST(Dispatch, NeonTableMatchesCpu) {
#if defined(__aarch64__) || defined(_M_ARM64)
  // NEON is baseline on AArch64: its table must be built in, and chosen
  // unless the CPU also has Arm BF16 or I8MM (HWCAP2), whose tables come first.
  ASSERT_NE(neon_kernels(), nullptr);
  const CpuFeatures& f = cpu_features();
  EXPECT_TRUE(f.neon);
  const char* best = f.arm_i8mm && f.arm_bf16 && neon_i8mm_bf16_kernels() != nullptr ? "neon_i8mm_bf16"
                     : f.arm_i8mm && neon_i8mm_kernels() != nullptr                 ? "neon_i8mm"
                     : f.arm_bf16 && neon_bf16_kernels() != nullptr                 ? "neon_bf16"
                                                                                    : "neon";
  std::printf("HWCAP2: BF16 %s, I8MM %s: best table %s\n", f.arm_bf16 ? "yes" : "no",
              f.arm_i8mm ? "yes" : "no", best);
  EXPECT_STREQ(available_kernels().front()->isa, best);
  EXPECT_STREQ(neon_kernels()->isa, "neon");
  const char* want = std::getenv("CROSSRANK_ISA");
  EXPECT_STREQ(active_kernels().isa,
               want != nullptr && std::strcmp(want, "ref") == 0 ? "ref" : best);
#else
  EXPECT_EQ(neon_kernels(), nullptr);
  GTEST_SKIP() << "not an AArch64 build";
#endif
}

// ---- thread pool ----------------------------------------------------------------

TEST(ThreadPool, RunsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (std::size_t count : {0u, 1u, 2u, 3u, 7u, 1000u}) {
      std::vector<std::atomic<int>> hits(count);
      for (auto& h : hits) h = 0;
      pool.parallel_for(count, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (std::size_t i = 0; i < count; ++i)
        ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " count " << count;
    }
  }
}

TEST(ThreadPool, UsesWorkerThreads) {
  ThreadPool pool(2);
  std::atomic<int> inside{0}, max_inside{0};
  // Each task waits briefly for the other so both threads are seen at once.
  pool.parallel_for(2, [&](std::size_t) {
    const int now = ++inside;
    int seen = max_inside.load();
    while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
    }
    for (int spin = 0; spin < 2000 && inside.load() < 2; ++spin)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    --inside;
  });
  EXPECT_EQ(max_inside.load(), 2);
}

TEST(ThreadPool, CallsFromSeveralThreadsAreSerialised) {
  ThreadPool pool(3);
  constexpr int kCallers = 4, kCalls = 50;
  constexpr std::size_t kCount = 97;
  // Tasks of each caller in flight right now; a task that sees another
  // caller's task in flight means two calls overlapped.
  std::atomic<int> in_flight[kCallers];
  for (auto& f : in_flight) f = 0;
  std::atomic<bool> overlapped{false};
  std::vector<std::atomic<long>> hits(kCount);
  for (auto& h : hits) h = 0;
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int call = 0; call < kCalls; ++call) {
        pool.parallel_for(kCount, [&](std::size_t i) {
          ++in_flight[c];
          for (int d = 0; d < kCallers; ++d)
            if (d != c && in_flight[d].load() != 0) overlapped = true;
          hits[i].fetch_add(1);
          --in_flight[c];
        });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (std::size_t i = 0; i < kCount; ++i) ASSERT_EQ(hits[i].load(), kCallers * kCalls);
  EXPECT_FALSE(overlapped.load());
}

TEST(ThreadPool, RethrowsTaskException) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(100,
                                 [](std::size_t i) {
                                   if (i == 42) throw std::runtime_error("task failed");
                                 }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int> n{0};
  pool.parallel_for(10, [&](std::size_t) { ++n; });
  EXPECT_EQ(n.load(), 10);
}

TEST(ThreadPool, CreateAndDestroyRepeatedly) {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(1 + i % 4);
    if (i % 2) pool.parallel_for(5, [](std::size_t) {});
  }
}

TEST(ThreadPool, DefaultThreadCount) { EXPECT_GE(default_thread_count(), 1); }

}  // namespace
}  // namespace crossrank::kernels
