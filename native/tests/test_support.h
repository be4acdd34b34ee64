// Seeded random data and size lists shared by the GEMM tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/kernels.h"

namespace crossrank::test_support {

// CROSSRANK_TEST_SEED, or 20240601; printed once with the binary's name so
// a failure can be replayed.
inline std::uint64_t test_seed(const char* binary) {
  static const std::uint64_t seed = [binary] {
    const char* env = std::getenv("CROSSRANK_TEST_SEED");
    const std::uint64_t s = env ? std::strtoull(env, nullptr, 10) : 20240601u;
    std::printf("%s: RNG seed %llu (set CROSSRANK_TEST_SEED to change)\n", binary,
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

inline std::vector<float> random_floats(std::size_t n, std::mt19937_64& rng, float lo = -1.f,
                                        float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Sizes around a micro-tile (1, tile - 1, tile, tile + 1, 2 tile + 3) plus
// extra, sorted, without repeats or values below 1.
inline std::vector<int> around_tile(int tile, std::vector<int> extra) {
  std::vector<int> v = {1, tile - 1, tile, tile + 1, 2 * tile + 3};
  v.insert(v.end(), extra.begin(), extra.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  v.erase(std::remove_if(v.begin(), v.end(), [](int x) { return x < 1; }), v.end());
  return v;
}

inline constexpr kernels::Epilogue kAllEpilogues[] = {
    kernels::Epilogue::kNone, kernels::Epilogue::kBias, kernels::Epilogue::kBiasGelu,
    kernels::Epilogue::kBiasResidual};

// Whether this CPU runs the table (it is among available_kernels()).
inline bool cpu_runs(const kernels::KernelTable* table) {
  const std::vector<const kernels::KernelTable*> tables = kernels::available_kernels();
  return std::find(tables.begin(), tables.end(), table) != tables.end();
}

// Names a table's test instance by its isa.
inline std::string table_name(const ::testing::TestParamInfo<const kernels::KernelTable*>& info) {
  return info.param->isa;
}

// A test over kernel tables that skips, saying "NOT RUN" and why, a table
// this CPU cannot run (never a pass). kernel_name and requirement name what
// the table's kernel needs.
class RunnableTableTest : public ::testing::TestWithParam<const kernels::KernelTable*> {
 protected:
  void skip_unless_cpu_runs(const char* kernel_name, const std::string& requirement) {
    if (!cpu_runs(GetParam()))
      GTEST_SKIP() << "NOT RUN: the " << kernel_name << " kernel needs " << requirement
                   << ", which this CPU (" << kernels::cpu_features().brand << ") lacks";
  }
  const kernels::KernelTable& table() const { return *GetParam(); }
};

}  // namespace crossrank::test_support
