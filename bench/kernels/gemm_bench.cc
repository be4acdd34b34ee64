// GEMM kernel bench: how close the active GEMM comes to the machine's FMA
// peak on the linear layers of real BERT models, on one thread and on all.
//
//   gemm_bench [--json PATH] [--threads N] [--shapes FILE]... [--m 512,2048]
//              [--repeats R] [--min-time SECONDS] [--int8 | --bf16]
//
// Every kernel is measured against the peak of the instruction it runs: a
// loop of independent instances of it with no loads (run_chains; the ops
// per iteration are stated beside each loop).
//
// --bf16 times the bf16 GEMM (bgemm: weights rounded to bf16 at packing, A
// rounded inside the call, fp32 sums), in GFLOP/s, of every bf16 kernel this
// CPU runs (AMX and AVX512-BF16 on x86; only the active one when
// CROSSRANK_ISA is set), each against its own peak: vdpbf16ps on zmm for
// the AVX512-BF16 kernel (32 bf16 multiply-adds = 64 FLOPs per
// instruction), tdpbf16ps on full tiles for the AMX one (16 x 16 outputs x
// 32 = 8192 multiply-adds = 16384 FLOPs per instruction), bfmmla on Arm.
//
// --int8 times the int8 GEMM (qgemm: weights quantised per output channel,
// activations per row in blocks, quantised inside the call) instead, in
// GOPS (2 x M x N x K per call, as for fp32), of every int8 kernel this CPU
// runs (AMX, AVX-512 VNNI and AVX2 on x86; only the active one when
// CROSSRANK_ISA is set), each against its own int8 peak: tdpbssd on full
// tiles for the AMX kernel (16 x 16 outputs x 64 = 16384 multiply-adds =
// 32768 ops per instruction), vpdpbusd on zmm for the VNNI kernel (64 int8
// multiply-adds = 128 ops per instruction), vpmaddubsw + vpmaddwd (+ the
// vpaddd that accumulates) on ymm for the AVX2 one (32 multiply-adds = 64 ops
// per step), smmla on Arm. The AMX loops run only where cpu_features() found
// the tiles usable (CPUID, XCR0 and Linux's per-process permission).
//
// 1. Peak: the kernel's peak loop (for fp32, FMAs of the kernel's width;
//    independent accumulators, more than latency x throughput needs: 12
//    vectors, 6 in the AVX2 int8 loop, 4 tiles in the AMX ones), run on one
//    thread, then on N threads at once. The all-thread peak is measured,
//    not assumed to be N times the one-thread peak: shared or throttled
//    cores show up here.
// 2. GEMM: every layer of every shapes file (bench/shapes/*.txt) at every M,
//    through gemm_parallel with a pool of 1 and of N threads, with the
//    epilogue the forward pass uses. One warm-up call, then --repeats
//    samples of enough calls to last --min-time; the median sample counts.
// 3. A table on stdout and, with --json, the same numbers as JSON.
// Timings on a shared machine are noisy: the load average is printed and
// recorded at the start and the end.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "common/thread_pool.h"
#include "engine/quantize.h"
#include "kernel_test_helpers.h"
#include "kernels/amx/tiles.h"
#include "kernels/kernels.h"

namespace crossrank::bench {
namespace {

using Clock = std::chrono::steady_clock;
using kernels::Epilogue;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU time of the calling thread: on a loaded machine it leaves out the
// time other processes held this core, so one-thread numbers by CPU time
// stay comparable from run to run where wall-clock numbers do not.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// CPU time of every thread of this process (the pool's workers sleep, not
// spin, between calls, so this counts GEMM work).
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

// ---- peak loops ---------------------------------------------------------------

// Every peak loop has one shape: kChains independent accumulators, each
// advanced by one step (one instruction, or the fixed group an int8 kernel
// issues per multiply-add) per iteration, with no loads, so the rate is that
// of the execution units. `step(acc)` issues the step on one accumulator; it
// first passes its operands through an empty asm, so that to the compiler
// they are new values at every step: nothing is hoisted out of the loop,
// nothing is shared between chains (without it GCC computed the AVX2 loop's
// vpmaddubsw + vpmaddwd once for all twelve chains). `add(a, b)` (a += b)
// folds the chains into acc[0] afterwards, so the work stays live. The steps
// are lambdas carrying their loop's target attribute; this helper is always
// inlined into that loop, so it needs none.
template <int kChains, typename Acc, typename Step, typename Add>
[[gnu::always_inline]] inline void run_chains(long iterations, Acc (&acc)[kChains], Step step,
                                              Add add) {
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) step(acc[c]);
  }
#pragma GCC unroll 16
  for (int c = 1; c < kChains; ++c) add(acc[0], acc[c]);
}

// Twelve chains: more than latency x throughput of any of these
// instructions needs (an FMA: 4-5 cycles on two pipes, so 8-10 chains
// already saturate them).
constexpr int kChains = 12;

#if defined(__x86_64__) || defined(_M_X64)
constexpr bool kHavePeakLoop = true;

// Each loop is built for its ISA through the target attribute, so that this
// file needs no ISA flags; it is called only when the CPU has that ISA. The
// FMA loops' multiplier below 1 and small addend keep every value normal.
#define CROSSRANK_AVX2 __attribute__((target("avx2,fma")))
#define CROSSRANK_AVX512 __attribute__((target("avx512f")))
#define CROSSRANK_VNNI __attribute__((target("avx2,avx512f,avx512vl,avx512bw,avx512vnni")))
#define CROSSRANK_BF16 __attribute__((target("avx2,avx512f,avx512vl,avx512bw,avx512bf16")))

// vfmadd on ymm: 8 multiply-adds = 16 FLOPs an instruction.
constexpr double kFlopsPerIteration = kChains * 8 * 2;
CROSSRANK_AVX2 float fma_loop(long iterations) {
  __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.1f * static_cast<float>(i + 1));
  run_chains(
      iterations, acc,
      [&](__m256& a) CROSSRANK_AVX2 {
        __asm__ volatile("" : "+v"(m), "+v"(c));
        a = _mm256_fmadd_ps(a, m, c);
      },
      [](__m256& a, const __m256& b) CROSSRANK_AVX2 { a = _mm256_add_ps(a, b); });
  float out[8];
  _mm256_storeu_ps(out, acc[0]);
  return out[0] + out[7];
}

// The same with 512-bit vectors, the peak of the 512-bit GEMM: 16
// multiply-adds = 32 FLOPs an instruction. On CPUs that split a 512-bit FMA
// into two 256-bit halves (AMD Zen 4) both loops give the same FLOP rate; on
// CPUs with 512-bit FMA units this one is twice as fast.
constexpr double kFlops512PerIteration = kChains * 16 * 2;
CROSSRANK_AVX512 float fma512_loop(long iterations) {
  __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.1f * static_cast<float>(i + 1));
  run_chains(
      iterations, acc,
      [&](__m512& a) CROSSRANK_AVX512 {
        __asm__ volatile("" : "+v"(m), "+v"(c));
        a = _mm512_fmadd_ps(a, m, c);
      },
      [](__m512& a, const __m512& b) CROSSRANK_AVX512 { a = _mm512_add_ps(a, b); });
  return _mm512_reduce_add_ps(acc[0]);
}

// The int8 multiply-add peak without VNNI, as qs8_gemm_4x16__avx2 runs it:
// vpmaddubsw (32 u8 x s8 products summed in pairs to int16), vpmaddwd by
// ones (pairs to int32) and vpaddd into the accumulator: 32 multiply-adds =
// 64 ops a step. Eight chains, not twelve: AVX2 has 16 ymm registers, and
// twelve accumulators beside x, y, the ones and the products made GCC spill
// accumulators to the stack inside the loop; only the 1-cycle vpaddd is on
// an accumulator's chain, so eight are plenty.
constexpr int kAvx2Int8Chains = 6;
constexpr double kInt8OpsPerIteration = kAvx2Int8Chains * 32 * 2;
CROSSRANK_AVX2 float int8_dot_loop(long iterations) {
  __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-5);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[kAvx2Int8Chains];
  for (__m256i& a : acc) a = _mm256_setzero_si256();
  run_chains(
      iterations, acc,
      [&](__m256i& a) CROSSRANK_AVX2 {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
      },
      [](__m256i& a, const __m256i& b) CROSSRANK_AVX2 { a = _mm256_add_epi32(a, b); });
  return static_cast<float>(_mm256_extract_epi32(acc[0], 0));
}

// The same with VNNI, on zmm as qs8_gemm_8x16__avx512vnni runs it: vpdpbusd
// (64 u8 x s8 products summed by fours into the int32 accumulator), 64
// multiply-adds = 128 ops an instruction.
constexpr double kVnniOpsPerIteration = kChains * 64 * 2;
CROSSRANK_VNNI float vnni_dot_loop(long iterations) {
  __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-5);
  __m512i acc[kChains];
  for (__m512i& a : acc) a = _mm512_setzero_si512();
  run_chains(
      iterations, acc,
      [&](__m512i& a) CROSSRANK_VNNI {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        a = _mm512_dpbusd_epi32(a, x, y);
      },
      [](__m512i& a, const __m512i& b) CROSSRANK_VNNI { a = _mm512_add_epi32(a, b); });
  return static_cast<float>(_mm512_reduce_add_epi32(acc[0]));
}

// The bf16 peak: vdpbf16ps on zmm, as bf16_gemm_8x32__avx512bf16 runs it
// (16 lanes x 2 bf16 products added to the fp32 lane: 32 multiply-adds = 64
// FLOPs an instruction).
constexpr double kBf16FlopsPerIteration = kChains * 32 * 2;
CROSSRANK_BF16 float bf16_dot_loop(long iterations) {
  __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(-1e-3f));
  __m512 acc[kChains];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  run_chains(
      iterations, acc,
      [&](__m512& a) CROSSRANK_BF16 {
        __asm__ volatile("" : "+v"(x), "+v"(y));
        a = _mm512_dpbf16_ps(a, x, y);
      },
      [](__m512& a, const __m512& b) CROSSRANK_BF16 { a = _mm512_add_ps(a, b); });
  return _mm512_reduce_add_ps(acc[0]);
}

// The AMX peaks: independent tile multiplies with no loads. Tiles are
// configured by a 64-byte palette-1 block (ldtilecfg): palette, start row,
// 14 reserved bytes, then bytes per row and rows of tmm0-15. Here tmm0-7
// are all full, 16 rows x 64 bytes. tmm0-3 accumulate, tmm4-5 (left) and
// tmm6-7 (right) are the sources, zeroed once by tilezero: the 2 x 2 block
// of 16 x 16 outputs that bf16_gemm_32x32__amx computes, four independent
// chains. A tile multiply issues once every 16 cycles per core (Intel's
// 1024 bf16 FLOPs / 2048 int8 ops per cycle: 16384 / 16, 32768 / 16); its
// latency is a few times that (published measurements near 52 cycles, not
// measured here: no CPU this was written on has AMX), and four chains leave
// 64 cycles between two updates of one accumulator.
// Every tile 16 rows of 64 bytes (the kernels' palette-1 layout, kernels/amx/tiles.h).
constexpr kernels::amx_tiles::TileConfig full_tiles() {
  kernels::amx_tiles::TileConfig config;
  for (int t = 0; t < 8; ++t) config.set(t, 16, 64);
  return config;
}

#define CROSSRANK_AMX_BF16 __attribute__((target("amx-tile,amx-bf16")))
#define CROSSRANK_AMX_INT8 __attribute__((target("amx-tile,amx-int8")))

// Both AMX peak loops: configure and zero the tiles, `iterations` times
// `step()` (the four multiplies tmm0-3 += tmm4-5 x tmm6-7), then store tmm0
// so the work stays observable and release the tiles. Linux grants the tile
// state to a process only after arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA),
// which cpu_features() asks for (amx_bf16 / amx_int8 are true only once
// granted); the configuration belongs to a thread, so each call loads its
// own (measure_peak runs the loop on fresh threads). Built for both tile
// ISAs so that either step inlines; it runs only the one its step uses.
template <typename Step>
__attribute__((target("amx-tile,amx-bf16,amx-int8"))) float run_tiles(long iterations, Step step) {
  static constexpr kernels::amx_tiles::TileConfig kConfig = full_tiles();
  _tile_loadconfig(&kConfig);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  for (long i = 0; i < iterations; ++i) step();
  std::int32_t out[16][16];  // fp32 or int32 sums: only a value for the sink
  _tile_stored(0, out, 64);
  _tile_release();
  return static_cast<float>(out[0][0]);
}

// tdpbf16ps on full tiles: C is 16 x 16 fp32 (64-byte rows), A is 16 rows
// of 32 bf16 (K = 32), B is K/2 = 16 rows of 16 bf16 pairs; each of the
// 16 x 16 outputs gets 32 products: 16 * 16 * 32 = 8192 multiply-adds =
// 16384 FLOPs an instruction, four an iteration.
constexpr double kAmxBf16FlopsPerIteration = 4 * 16 * 16 * 32 * 2;
float tdpbf16ps_loop(long iterations) {
  return run_tiles(iterations, []() CROSSRANK_AMX_BF16 {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  });
}

// tdpbssd (signed x signed int8, as qs8_gemm_16x16__amx; tdpbusd and the
// other sign variants have the same documented latency and throughput) on
// full tiles: C is 16 x 16 int32, A is 16 rows of 64 int8 (K = 64), B is
// K/4 = 16 rows of 16 groups of four int8: 16 * 16 * 64 = 16384
// multiply-adds = 32768 ops an instruction, four an iteration.
constexpr double kAmxInt8OpsPerIteration = 4 * 16 * 16 * 64 * 2;
float tdpbssd_loop(long iterations) {
  return run_tiles(iterations, []() CROSSRANK_AMX_INT8 {
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    _tile_dpbssd(2, 5, 6);
    _tile_dpbssd(3, 5, 7);
  });
}

bool cpu_runs_peak_loop() {
  const kernels::CpuFeatures& f = kernels::cpu_features();
  return f.avx2 && f.fma;
}
#elif defined(__aarch64__)
// AArch64: the instruction each kernel runs, as on x86. Under qemu these
// rates (and the kernels') say nothing of a real core's: emulated, every
// bfmmla is a chain of softfloat calls.
constexpr bool kHavePeakLoop = true;
#define CROSSRANK_I8MM __attribute__((target("arch=armv8.2-a+i8mm")))
#define CROSSRANK_ARM_BF16 __attribute__((target("arch=armv8.2-a+bf16")))

// fmla on 4 lanes: 8 FLOPs an instruction.
constexpr double kFlopsPerIteration = kChains * 4 * 2;
float fma_loop(long iterations) {
  float32x4_t x = vdupq_n_f32(0.5f), y = vdupq_n_f32(1e-3f);
  float32x4_t acc[kChains];
  for (float32x4_t& a : acc) a = vdupq_n_f32(0.f);
  run_chains(
      iterations, acc,
      [&](float32x4_t& a) {
        __asm__ volatile("" : "+w"(x), "+w"(y));
        a = vfmaq_f32(a, x, y);
      },
      [](float32x4_t& a, const float32x4_t& b) { a = vaddq_f32(a, b); });
  return vaddvq_f32(acc[0]);
}

// smmla: a 2x8 by 8x2 int8 product, 32 multiply-adds (64 ops) an instruction.
constexpr double kI8mmOpsPerIteration = kChains * 32 * 2;
CROSSRANK_I8MM float i8mm_dot_loop(long iterations) {
  int8x16_t x = vdupq_n_s8(3), y = vdupq_n_s8(-2);
  int32x4_t acc[kChains];
  for (int32x4_t& a : acc) a = vdupq_n_s32(0);
  run_chains(
      iterations, acc,
      [&](int32x4_t& a) CROSSRANK_I8MM {
        __asm__ volatile("" : "+w"(x), "+w"(y));
        a = vmmlaq_s32(a, x, y);
      },
      [](int32x4_t& a, const int32x4_t& b) CROSSRANK_I8MM { a = vaddq_s32(a, b); });
  return static_cast<float>(vaddvq_s32(acc[0]));
}

// bfmmla: a 2x4 by 4x2 bf16 product, 16 multiply-adds (32 FLOPs).
constexpr double kBfmmlaFlopsPerIteration = kChains * 16 * 2;
CROSSRANK_ARM_BF16 float bfmmla_loop(long iterations) {
  // The bits pass through an empty asm: GCC would otherwise build them with
  // an fp16 fmov immediate, which +bf16 alone does not allow.
  uint16x8_t x_bits = vdupq_n_u16(0x3F00), y_bits = vdupq_n_u16(0x3A83);  // 0.5, ~1e-3
  __asm__("" : "+w"(x_bits), "+w"(y_bits));
  bfloat16x8_t x = vreinterpretq_bf16_u16(x_bits);
  bfloat16x8_t y = vreinterpretq_bf16_u16(y_bits);
  float32x4_t acc[kChains];
  for (float32x4_t& a : acc) a = vdupq_n_f32(0.f);
  run_chains(
      iterations, acc,
      [&](float32x4_t& a) CROSSRANK_ARM_BF16 {
        __asm__ volatile("" : "+w"(x), "+w"(y));
        a = vbfmmlaq_f32(a, x, y);
      },
      [](float32x4_t& a, const float32x4_t& b) CROSSRANK_ARM_BF16 { a = vaddq_f32(a, b); });
  return vaddvq_f32(acc[0]);
}
bool cpu_runs_peak_loop() { return true; }
#else
// Other ISAs: no peak loop yet; the table shows GFLOP/s without fractions.
constexpr bool kHavePeakLoop = false;
bool cpu_runs_peak_loop() { return false; }
#endif

volatile float g_sink;  // keeps the FMA results alive

struct Peak {
  double gflops = 0;      // by wall-clock time, all threads together
  double cpu_gflops = 0;  // by CPU time, per thread, times the threads
};

// A peak loop and what one iteration does.
struct PeakLoop {
  const char* name = nullptr;  // null: no loop for this kernel
  float (*loop)(long) = nullptr;
  double ops_per_iteration = 0;
};

enum class Dtype { kF32, kInt8, kBf16 };

// The loop whose rate bounds the kernel that --int8, --bf16 (or neither)
// times on `table`.
PeakLoop peak_loop_for(const kernels::KernelTable& table, Dtype dtype) {
  if (!kHavePeakLoop || !cpu_runs_peak_loop()) return {};
#if defined(__aarch64__)
  // Each Arm kernel against its own instruction's loop.
  const kernels::KernelTable* arm_bf16 = kernels::neon_bf16_kernels();
  const kernels::KernelTable* arm_i8mm = kernels::neon_i8mm_kernels();
  if (dtype == Dtype::kBf16) {
    if (arm_bf16 != nullptr && table.bgemm == arm_bf16->bgemm && kernels::cpu_features().arm_bf16)
      return {"bf16 (bfmmla) peak", bfmmla_loop, kBfmmlaFlopsPerIteration};
    return {};
  }
  if (dtype == Dtype::kInt8) {
    if (arm_i8mm != nullptr && table.qgemm == arm_i8mm->qgemm && kernels::cpu_features().arm_i8mm)
      return {"int8 (smmla) peak", i8mm_dot_loop, kI8mmOpsPerIteration};
    return {};
  }
  return {"FMA peak (fmla 128-bit)", fma_loop, kFlopsPerIteration};
#elif defined(__x86_64__) || defined(_M_X64)
  // The AMX table (its bf16 and int8 GEMMs on the tiles, fp32 on AVX-512),
  // known by its isa name. Its tile loops run only where cpu_features()
  // found the tiles usable (CPUID, XCR0 and the process's permission).
  if (std::strcmp(table.isa, "amx") == 0) {
    const kernels::CpuFeatures& f = kernels::cpu_features();
    if (dtype == Dtype::kBf16)
      return f.amx_bf16 ? PeakLoop{"bf16 (tdpbf16ps) peak", tdpbf16ps_loop,
                                   kAmxBf16FlopsPerIteration}
                        : PeakLoop{};
    if (dtype == Dtype::kInt8)
      return f.amx_int8 ? PeakLoop{"int8 (tdpbssd) peak", tdpbssd_loop, kAmxInt8OpsPerIteration}
                        : PeakLoop{};
    return {"FMA peak (512-bit)", fma512_loop, kFlops512PerIteration};
  }
  if (dtype == Dtype::kBf16) {
    const kernels::KernelTable* bf16 = kernels::avx512bf16_kernels();
    if (bf16 != nullptr && table.bgemm == bf16->bgemm)
      return {"bf16 (vdpbf16ps zmm) peak", bf16_dot_loop, kBf16FlopsPerIteration};
    return {};
  }
  const bool int8 = dtype == Dtype::kInt8;
  const kernels::KernelTable* avx512 = kernels::avx512_kernels();
  const kernels::KernelTable* vnni = kernels::avx512vnni_kernels();
  const kernels::KernelTable* avx2 = kernels::avx2_kernels();
  if (!int8) {
    // Each kernel against the FMA of its own width (the same rate on CPUs
    // that split 512-bit FMAs in two, twice the 256-bit rate on others).
    if (avx512 != nullptr && table.gemm == avx512->gemm)
      return {"FMA peak (512-bit)", fma512_loop, kFlops512PerIteration};
    return {"FMA peak", fma_loop, kFlopsPerIteration};
  }
  if (vnni != nullptr && table.qgemm == vnni->qgemm)
    return {"int8 (vpdpbusd zmm) peak", vnni_dot_loop, kVnniOpsPerIteration};
  if (avx2 != nullptr && table.qgemm == avx2->qgemm)
    return {"int8 (vpmaddubsw+vpmaddwd) peak", int8_dot_loop, kInt8OpsPerIteration};
  return {};
#else
  (void)table;
  (void)dtype;
  return {};
#endif
}

// GFLOP/s (GOPS for the int8 loops) of `threads` threads running the peak
// loop at the same moment, median of `samples`. Threads start together from
// a spin barrier, so thread creation is not timed.
Peak measure_peak(const PeakLoop& peak, int threads, int samples, double min_time) {
  float (*const loop)(long) = peak.loop;
  long iterations = 1 << 16;
  for (;;) {  // grow until one run lasts min_time on one thread
    const Clock::time_point t0 = Clock::now();
    g_sink = loop(iterations);
    if (seconds_since(t0) >= min_time) break;
    iterations *= 2;
  }
  const double flops_per_thread = peak.ops_per_iteration * iterations;
  std::vector<double> gflops, cpu_gflops;
  for (int s = 0; s < samples; ++s) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<double> cpu_seconds(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) {
        }
        const double c0 = thread_cpu_seconds();
        g_sink = loop(iterations);
        cpu_seconds[t] = thread_cpu_seconds() - c0;
      });
    }
    while (ready.load() < threads) std::this_thread::yield();
    const Clock::time_point t0 = Clock::now();
    go.store(true, std::memory_order_release);
    for (std::thread& w : workers) w.join();
    const double secs = seconds_since(t0);
    gflops.push_back(flops_per_thread * threads / secs * 1e-9);
    double cpu = 0;
    for (double c : cpu_seconds) cpu += flops_per_thread / c * 1e-9;
    cpu_gflops.push_back(cpu);
  }
  return {median(gflops), median(cpu_gflops)};
}

// ---- shapes ---------------------------------------------------------------------

struct Layer {
  std::string name;
  int n = 0, k = 0;
  Epilogue epilogue = Epilogue::kNone;
};

struct Model {
  std::string name;  // file name without .txt
  std::vector<int> ms;
  std::vector<Layer> layers;
};

Epilogue parse_epilogue(const std::string& s) {
  if (s == "none") return Epilogue::kNone;
  if (s == "bias") return Epilogue::kBias;
  if (s == "bias+gelu") return Epilogue::kBiasGelu;
  if (s == "bias+residual") return Epilogue::kBiasResidual;
  throw std::runtime_error("unknown epilogue '" + s + "'");
}

using kernels::testing::epilogue_name;

// One layer per line: "name N K [epilogue]"; "m M1 M2 ..." gives the token
// counts; '#' starts a comment.
Model read_shapes(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open shapes file " + path);
  Model model;
  const std::size_t slash = path.find_last_of('/');
  model.name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  if (model.name.size() > 4 && model.name.compare(model.name.size() - 4, 4, ".txt") == 0)
    model.name.resize(model.name.size() - 4);
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    line = line.substr(0, line.find('#'));
    std::istringstream in(line);
    std::string first;
    if (!(in >> first)) continue;
    if (first == "m") {
      for (int m; in >> m;) model.ms.push_back(m);
      continue;
    }
    Layer layer;
    layer.name = first;
    std::string epilogue = "none";
    if (!(in >> layer.n >> layer.k) || layer.n <= 0 || layer.k <= 0)
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": want 'name N K'");
    in >> epilogue;
    layer.epilogue = parse_epilogue(epilogue);
    model.layers.push_back(layer);
  }
  if (model.layers.empty()) throw std::runtime_error(path + ": no layers");
  if (model.ms.empty()) throw std::runtime_error(path + ": no 'm' line");
  return model;
}

// ---- GEMM timing ----------------------------------------------------------

// Fast deterministic fill in [-1, 1): hundreds of MB at the largest shapes.
void fill(std::vector<float>& v, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& f : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    f = static_cast<float>(static_cast<std::int64_t>(x >> 40) - (1 << 23)) * (1.f / (1 << 23));
  }
}

struct Timing {
  double gflops = 0;
  double median_seconds = 0;  // per call
  // By CPU time: of the calling thread on one thread; on N threads, the
  // process's CPU time, i.e. GFLOP/s per busy thread. On a loaded machine
  // N threads x this, against N x the one-thread figure, shows whether the
  // split scales apart from cores lost to other processes.
  double cpu_gflops = 0;
  int calls_per_sample = 0;
};

Timing time_gemm(const kernels::KernelTable& table, const kernels::GemmArgs& args,
                 ThreadPool& pool, double flops, int repeats, double min_time) {
  Clock::time_point t0 = Clock::now();
  kernels::gemm_parallel(table, args, pool);  // warm-up: caches, page faults
  const double first = std::max(1e-9, seconds_since(t0));
  Timing t;
  t.calls_per_sample = std::max(1, static_cast<int>(min_time / first));
  auto cpu_seconds = pool.size() == 1 ? thread_cpu_seconds : process_cpu_seconds;
  std::vector<double> per_call, cpu_per_call;
  for (int r = 0; r < repeats; ++r) {
    const double c0 = cpu_seconds();
    t0 = Clock::now();
    for (int i = 0; i < t.calls_per_sample; ++i) kernels::gemm_parallel(table, args, pool);
    per_call.push_back(seconds_since(t0) / t.calls_per_sample);
    cpu_per_call.push_back((cpu_seconds() - c0) / t.calls_per_sample);
  }
  t.median_seconds = median(per_call);
  t.gflops = flops / t.median_seconds * 1e-9;
  t.cpu_gflops = flops / median(cpu_per_call) * 1e-9;
  return t;
}

struct Result {
  std::string model, layer;
  int m, n, k;
  Epilogue epilogue;
  Timing one, all;
};

// One kernel's bench: its peak and its timings on every shape.
struct KernelRun {
  const kernels::KernelTable* table = nullptr;
  PeakLoop peak_loop;
  Peak peak1, peak_n;
  std::vector<Result> results;
};

// ---- options and output -----------------------------------------------------

struct Options {
  std::string json_path;
  int threads = default_thread_count();
  std::vector<std::string> shapes;
  std::vector<int> ms;  // overrides the files' m lines when set
  int repeats = 5;
  double min_time = 0.05;
  bool int8 = false;
  bool bf16 = false;
  Dtype dtype() const { return int8 ? Dtype::kInt8 : bf16 ? Dtype::kBf16 : Dtype::kF32; }
};

// The name of the kernel the options time on table.
const char* kernel_name(const Options& o, const kernels::KernelTable& table) {
  return o.int8 ? table.qgemm_name : o.bf16 ? table.bgemm_name : table.gemm_name;
}

std::vector<int> parse_int_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) v.push_back(std::stoi(item));
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--json") {
      o.json_path = value();
    } else if (a == "--threads") {
      o.threads = std::max(1, std::stoi(value()));
    } else if (a == "--shapes") {
      o.shapes.push_back(value());
    } else if (a == "--m") {
      o.ms = parse_int_list(value());
    } else if (a == "--repeats") {
      o.repeats = std::max(1, std::stoi(value()));
    } else if (a == "--min-time") {
      o.min_time = std::stod(value());
    } else if (a == "--int8") {
      o.int8 = true;
    } else if (a == "--bf16") {
      o.bf16 = true;
    } else {
      throw std::runtime_error("unknown option " + a +
                               " (see the comment at the top of gemm_bench.cc)");
    }
  }
  if (o.int8 && o.bf16) throw std::runtime_error("--int8 and --bf16 exclude each other");
  if (o.shapes.empty()) {
    const std::string dir = std::string(CROSSRANK_SOURCE_DIR) + "/bench/shapes/";
    o.shapes = {dir + "minilm-l6-h384.txt", dir + "bert-base.txt"};
  }
  return o;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

// A fraction as a JSON value, or null without a measured peak.
std::string fraction_json(double gflops, double peak) {
  if (peak <= 0) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", gflops / peak);
  return buf;
}

// A run's fields: "isa", "gemm", the peak and "results", at `indent`.
void write_run_json(std::ofstream& f, const Options& o, const KernelRun& run,
                    const std::string& indent) {
  char buf[512];
  const kernels::KernelTable& table = *run.table;
  f << indent << "\"isa\": \"" << table.isa << "\",\n" << indent << "\"gemm\": \""
    << kernel_name(o, table) << "\",\n";
  f << indent << "\"peak_loop\": \"" << (run.peak_loop.name ? run.peak_loop.name : "") << "\",\n";
  std::snprintf(buf, sizeof buf,
                "\"%s\": {\"one_thread\": %.2f, \"all_threads\": %.2f, "
                "\"one_thread_by_cpu_time\": %.2f},\n",
                o.int8 ? "peak_int8_gops" : "peak_gflops", run.peak1.gflops, run.peak_n.gflops,
                run.peak1.cpu_gflops);
  f << indent << buf << indent << "\"results\": [\n";
  const Peak& peak1 = run.peak1;
  const Peak& peak_n = run.peak_n;
  for (std::size_t i = 0; i < run.results.size(); ++i) {
    const Result& r = run.results[i];
    std::snprintf(buf, sizeof buf,
                  "  {\"model\": \"%s\", \"layer\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, "
                  "\"epilogue\": \"%s\",\n",
                  r.model.c_str(), r.layer.c_str(), r.m, r.n, r.k, epilogue_name(r.epilogue));
    f << indent << buf;
    std::snprintf(buf, sizeof buf,
                  "   \"one_thread\": {\"gflops\": %.2f, \"seconds\": %.6g, "
                  "\"fraction_of_peak\": %s, \"gflops_by_cpu_time\": %.2f, "
                  "\"fraction_of_peak_by_cpu_time\": %s},\n",
                  r.one.gflops, r.one.median_seconds,
                  fraction_json(r.one.gflops, peak1.gflops).c_str(), r.one.cpu_gflops,
                  fraction_json(r.one.cpu_gflops, peak1.cpu_gflops).c_str());
    f << indent << buf;
    std::snprintf(buf, sizeof buf,
                  "   \"all_threads\": {\"gflops\": %.2f, \"seconds\": %.6g, "
                  "\"fraction_of_peak\": %s, \"speedup\": %.3f, "
                  "\"gflops_per_thread_by_cpu_time\": %.2f}}%s\n",
                  r.all.gflops, r.all.median_seconds, fraction_json(r.all.gflops, peak_n.gflops).c_str(),
                  r.all.gflops / r.one.gflops, r.all.cpu_gflops, i + 1 < run.results.size() ? "," : "");
    f << indent << buf;
  }
  f << indent << "]";
}

// The first run's fields at the top level (the active kernel's, as the
// e2e bench reads them); with --int8 or --bf16 and more than one kernel,
// the others in "other_kernels".
void write_json(const Options& o, const std::vector<KernelRun>& runs,
                const std::string& load_start, const std::string& load_end) {
  const std::filesystem::path parent = std::filesystem::path(o.json_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream f(o.json_path);
  if (!f) throw std::runtime_error("cannot write " + o.json_path);
  f << "{\n  \"bench\": \"" << (o.int8 ? "qgemm" : o.bf16 ? "bgemm" : "gemm") << "\",\n";
  f << "  \"unit\": \"" << (o.int8 ? "GOPS (int8 multiply-add = 2 ops)" : "GFLOP/s") << "\",\n";
  f << "  \"cpu\": \"" << json_escape(kernels::cpu_features().brand) << "\",\n";
  f << "  \"threads\": " << o.threads << ",\n";
  f << "  \"load_average_start\": \"" << load_start << "\",\n";
  f << "  \"load_average_end\": \"" << load_end << "\",\n";
  f << "  \"repeats\": " << o.repeats << ",\n";
  write_run_json(f, o, runs.front(), "  ");
  if (runs.size() > 1) {
    f << ",\n  \"other_kernels\": [\n";
    for (std::size_t i = 1; i < runs.size(); ++i) {
      f << "    {\n";
      write_run_json(f, o, runs[i], "      ");
      f << "\n    }" << (i + 1 < runs.size() ? "," : "") << "\n";
    }
    f << "  ]";
  }
  f << "\n}\n";
}

void print_range(const char* what, std::vector<double> v, double scale, const char* unit) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  std::printf("  %-44s min %6.2f%s  median %6.2f%s  max %6.2f%s\n", what, v.front() * scale, unit,
              median(v) * scale, unit, v.back() * scale, unit);
}

std::string percent(double gflops, double peak) {
  if (peak <= 0) return "   -";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%3.0f%%", 100 * gflops / peak);
  return buf;
}

// The tables to time: the active one; with --int8 or --bf16, every table
// this CPU runs with its own kernel of that dtype, best first (AMX beside
// AVX512-BF16, VNNI beside AVX2, ...; the reference's only when it is the
// only one), unless CROSSRANK_ISA asks for one. Kernels are told apart by
// name, so a new table needs no change here.
std::vector<const kernels::KernelTable*> tables_to_time(const Options& o) {
  const kernels::KernelTable& active = kernels::active_kernels();
  if (o.dtype() == Dtype::kF32 || std::getenv("CROSSRANK_ISA") != nullptr) return {&active};
  std::vector<const kernels::KernelTable*> tables;
  for (const kernels::KernelTable* t : kernels::available_kernels()) {
    const char* name = kernel_name(o, *t);
    if (name == nullptr) continue;  // no kernel of this dtype (a bf16 GEMM)
    if (t == &kernels::ref_kernels() && !tables.empty()) continue;
    const bool seen = std::any_of(tables.begin(), tables.end(), [&](const kernels::KernelTable* u) {
      return std::strcmp(kernel_name(o, *u), name) == 0;
    });
    if (!seen) tables.push_back(t);
  }
  return tables;
}

KernelRun time_kernel(const Options& o, const std::vector<Model>& models,
                      const kernels::KernelTable& table) {
  KernelRun run;
  run.table = &table;
  run.peak_loop = peak_loop_for(table, o.dtype());
  const char* unit = o.int8 ? "GOPS" : "GFLOP/s";
  std::printf("== %s (%s) ==\n", kernel_name(o, table), table.isa);
  if (run.peak_loop.loop != nullptr) {
    run.peak1 = measure_peak(run.peak_loop, 1, 7, 0.1);
    run.peak_n = measure_peak(run.peak_loop, o.threads, 7, 0.1);
    std::printf("%s: %.1f %s on 1 thread (%.1f by CPU time), %.1f %s on %d threads (%.2fx)\n\n",
                run.peak_loop.name, run.peak1.gflops, unit, run.peak1.cpu_gflops,
                run.peak_n.gflops, unit, o.threads, run.peak_n.gflops / run.peak1.gflops);
  } else {
    std::printf("no peak loop for this kernel; fractions omitted\n\n");
  }
  const Peak& peak1 = run.peak1;
  const Peak& peak_n = run.peak_n;

  ThreadPool pool1(1), pool_n(o.threads);
  // "cpu": the one-thread run timed by CPU time, against the peak timed
  // the same way (robust to other processes sharing the core).
  // "cpu/T" on N threads: GFLOP/s per CPU-second of the process (see Timing).
  std::printf("%-15s %-14s %6s %5s %5s | %8s %5s %6s %5s | %8s %5s %7s %6s\n", "model", "layer",
              "M", "N", "K", o.int8 ? "1T GOPS" : "1T GF/s", "peak", "cpu", "peak",
              o.int8 ? "NT GOPS" : "NT GF/s", "peak", "speedup", "cpu/T");
  for (const Model& model : models) {
    for (const Layer& layer : model.layers) {
      std::vector<float> w(static_cast<std::size_t>(layer.n) * layer.k), bias(layer.n);
      fill(w, 1);
      fill(bias, 2);
      kernels::PackedWeights packed;
      if (o.int8) {
        const engine::QuantizedMatrix q = engine::quantize_rows(w.data(), layer.n, layer.k);
        table.qgemm_pack(q.values.data(), q.scales.data(), layer.n, layer.k, &packed);
      } else if (o.bf16) {
        table.bgemm_pack(w.data(), layer.n, layer.k, &packed);
      } else {
        table.gemm_pack(w.data(), layer.n, layer.k, &packed);
      }
      for (int m : model.ms) {
        std::vector<float> a(static_cast<std::size_t>(m) * layer.k);
        std::vector<float> c(static_cast<std::size_t>(m) * layer.n);
        fill(a, 3);
        fill(c, 4);
        kernels::GemmArgs args;
        args.m = m;
        args.a = a.data();
        args.lda = layer.k;
        args.w = &packed;
        args.bias = bias.data();
        args.c = c.data();
        args.ldc = layer.n;
        args.epilogue = layer.epilogue;
        if (layer.epilogue == Epilogue::kBiasResidual) {
          args.residual = c.data();  // in place, as the forward pass does
          args.ldr = layer.n;
        }
        const double flops = 2.0 * m * layer.n * layer.k;
        Result r{model.name, layer.name, m, layer.n, layer.k, layer.epilogue, {}, {}};
        r.one = time_gemm(table, args, pool1, flops, o.repeats, o.min_time);
        r.all = time_gemm(table, args, pool_n, flops, o.repeats, o.min_time);
        std::printf("%-15s %-14s %6d %5d %5d | %8.1f %5s %6.1f %5s | %8.1f %5s %6.2fx %6.1f\n",
                    model.name.c_str(), layer.name.c_str(), m, layer.n, layer.k, r.one.gflops,
                    percent(r.one.gflops, peak1.gflops).c_str(), r.one.cpu_gflops,
                    percent(r.one.cpu_gflops, peak1.cpu_gflops).c_str(), r.all.gflops,
                    percent(r.all.gflops, peak_n.gflops).c_str(), r.all.gflops / r.one.gflops,
                    r.all.cpu_gflops);
        std::fflush(stdout);
        run.results.push_back(r);
      }
    }
  }

  // Summary over the shapes the targets are stated for (M >= 512).
  std::vector<double> frac1, frac1_cpu, speedup, thread_efficiency;
  for (const Result& r : run.results) {
    if (r.m < 512) continue;
    if (peak1.gflops > 0) frac1.push_back(r.one.gflops / peak1.gflops);
    if (peak1.cpu_gflops > 0) frac1_cpu.push_back(r.one.cpu_gflops / peak1.cpu_gflops);
    speedup.push_back(r.all.gflops / r.one.gflops);
    thread_efficiency.push_back(r.all.cpu_gflops / r.one.cpu_gflops);
  }
  std::printf("\nM >= 512, %zu shapes:\n", speedup.size());
  print_range("1 thread, % of 1-thread peak (wall clock)", frac1, 100, "%");
  print_range("1 thread, % of 1-thread peak (CPU time)", frac1_cpu, 100, "%");
  print_range("N threads, speed-up over 1 thread (wall)", speedup, 1, "x");
  print_range("N threads, per-thread CPU-time rate / 1 thread", thread_efficiency, 1, "x");
  std::printf("\n");
  return run;
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  std::vector<Model> models;
  for (const std::string& path : o.shapes) models.push_back(read_shapes(path));
  if (!o.ms.empty())
    for (Model& m : models) m.ms = o.ms;

  if (o.bf16 && kernels::active_kernels().bgemm == nullptr) {
    // Not a failure of the bench: this CPU has no bf16 kernel to time.
    std::printf("gemm_bench --bf16: NOT RUN: the active kernels (%s) have no bf16 GEMM on %s\n",
                kernels::active_kernels().isa, kernels::cpu_features().brand.c_str());
    return 0;
  }
  const std::string load_start = load_average();
  std::printf("gemm_bench: %s, %d threads, load average %s\n\n",
              kernels::cpu_features().brand.c_str(), o.threads, load_start.c_str());
  std::vector<KernelRun> runs;
  for (const kernels::KernelTable* table : tables_to_time(o))
    runs.push_back(time_kernel(o, models, *table));

  // Several kernels: each one's speed against the first's (the best
  // this CPU has) on the same shapes, by CPU time on one thread.
  for (std::size_t i = 1; i < runs.size(); ++i) {
    std::vector<double> ratio;
    for (std::size_t r = 0; r < runs[i].results.size(); ++r)
      ratio.push_back(runs[0].results[r].one.cpu_gflops / runs[i].results[r].one.cpu_gflops);
    char what[160];
    std::snprintf(what, sizeof what, "%s / %s, 1 thread (CPU time)",
                  kernel_name(o, *runs[0].table), kernel_name(o, *runs[i].table));
    print_range(what, ratio, 1, "x");
  }

  const std::string load_end = load_average();
  std::printf("\nload average at the end: %s\n", load_end.c_str());
  if (!o.json_path.empty()) {
    write_json(o, runs, load_start, load_end);
    std::printf("wrote %s\n", o.json_path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace crossrank::bench

int main(int argc, char** argv) {
  try {
    return crossrank::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gemm_bench: %s\n", e.what());
    return 1;
  }
}
