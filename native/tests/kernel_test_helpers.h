// Helpers shared by the C++ kernel tests (kernel_test.cc, qgemm_test.cc,
// bgemm_test.cc) and the kernel bench (bench/kernels/gemm_bench.cc): seeded
// random data, the sizes around a micro-tile, the epilogues and their names,
// which tables this CPU runs. No GoogleTest here, so that the bench can
// include it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace crossrank::kernels::testing {

// The seed of every random draw in a test binary: CROSSRANK_TEST_SEED, or a
// fixed default; printed once (with `program`'s name) so a failure can be
// replayed.
inline std::uint64_t test_seed(const char* program) {
  static const std::uint64_t seed = [program] {
    const char* env = std::getenv("CROSSRANK_TEST_SEED");
    const std::uint64_t s = env ? std::strtoull(env, nullptr, 10) : 20240601u;
    std::printf("%s: RNG seed %llu (set CROSSRANK_TEST_SEED to change)\n", program,
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

// n floats uniform in [lo, hi).
inline std::vector<float> random_floats(std::size_t n, std::mt19937_64& rng, float lo = -1.f,
                                        float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// n int8 values uniform in [-127, 127] (never -128, as every quantiser).
inline std::vector<std::int8_t> random_int8(std::size_t n, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> dist(-127, 127);
  std::vector<std::int8_t> v(n);
  for (std::int8_t& x : v) x = static_cast<std::int8_t>(dist(rng));
  return v;
}

// Sizes around a micro-tile of `tile`: 1, one below, equal, one above and
// not a multiple, plus `extra`, sorted, without repeats or sizes below 1.
inline std::vector<int> around_tile(int tile, std::vector<int> extra) {
  std::vector<int> v = {1, tile - 1, tile, tile + 1, 2 * tile + 3};
  v.insert(v.end(), extra.begin(), extra.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  v.erase(std::remove_if(v.begin(), v.end(), [](int x) { return x < 1; }), v.end());
  return v;
}

inline constexpr Epilogue kAllEpilogues[] = {Epilogue::kNone, Epilogue::kBias,
                                             Epilogue::kBiasGelu, Epilogue::kBiasResidual};

// The name the bench's shapes files and the tests' messages use.
inline const char* epilogue_name(Epilogue e) {
  switch (e) {
    case Epilogue::kNone: return "none";
    case Epilogue::kBias: return "bias";
    case Epilogue::kBiasGelu: return "bias+gelu";
    case Epilogue::kBiasResidual: return "bias+residual";
  }
  return "?";
}

// Whether this CPU runs the table: it is among available_kernels(), or it
// is the emulated AMX table (never available, by design) and the CPU runs
// the AVX512-BF16 code around its emulated tiles.
inline bool cpu_runs(const KernelTable* table) {
  if (table != nullptr && table == amx_emulated_kernels())
    return cpu_runs(avx512bf16_kernels());
  const std::vector<const KernelTable*> tables = available_kernels();
  return std::find(tables.begin(), tables.end(), table) != tables.end();
}

// Why a test of the table's `kernel_name` kernel is NOT RUN on this CPU
// ("NOT RUN: ... needs `requirement` ..."), or empty when the CPU runs it:
// a test over tables skips with this message, never passes.
inline std::string not_run_reason(const KernelTable* table, const char* kernel_name,
                                  const std::string& requirement) {
  if (cpu_runs(table)) return {};
  return std::string("NOT RUN: the ") + kernel_name + " kernel needs " + requirement +
         ", which this CPU (" + cpu_features().brand + ") lacks";
}

// Names a table's instance of a parameterised test by its isa: a function
// object, so that it takes GoogleTest's TestParamInfo without this header
// including GoogleTest.
struct TableName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return info.param->isa;
  }
};
inline constexpr TableName table_name{};

}  // namespace crossrank::kernels::testing
