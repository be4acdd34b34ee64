// Seeded random data and size lists shared by the GEMM tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

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

}  // namespace crossrank::test_support
