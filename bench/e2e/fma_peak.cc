// Measured fp32 FMA peak (GFLOP/s) on one core and on all cores, for the e2e FLOP ceiling when the
// kernel bench's own figure is not available. Built by bench/run.ts: g++ -O3 -mavx2 -mfma -pthread
// (-O3 unrolls the chain loop so the accumulators stay in registers; at -O2 they go through the
// stack and it measures half the peak).
// Twelve independent 8-wide FMA chains hide the FMA latency (4-5 cycles, 2 ports); each FMA is 16 flops.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;
constexpr long kIterations = 200'000'000 / kChains;

float fma_loop(long iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.001f * static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  float out[8];
  _mm256_storeu_ps(out, sum);
  return out[0];
}

// Best of several runs on `threads` threads at once; returns GFLOP/s summed over threads.
double peak_gflops(int threads) {
  double best = 0;
  for (int repeat = 0; repeat < 5; ++repeat) {
    std::vector<std::thread> pool;
    std::vector<float> sink(threads);
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&sink, t] { sink[t] = fma_loop(kIterations); });
    for (auto& thread : pool) thread.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double flops = 16.0 * kChains * static_cast<double>(kIterations) * threads;
    best = std::max(best, flops / seconds / 1e9);
    if (sink[0] == 12345.f) std::puts("");  // keeps the loops alive
  }
  return best;
}

}  // namespace

int main() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const double single = peak_gflops(1);
  const double all = peak_gflops(cores);
  std::printf("{\"fma_peak_gflops\": {\"single_core\": %.2f, \"all_core\": %.2f, \"threads\": %d}}\n", single, all, cores);
  return 0;
}
