// The kernel contract: every op the BERT forward pass needs, as a table of
// function pointers filled once for the CPU we run on (see dispatch.cc; the
// list of tables and of the ISA behind each op is kernels/ops.h).
// kernels/ref/ holds a scalar reference of each op; ISA folders hold faster
// versions with the same contract. Only files under an ISA folder are
// compiled with that ISA's flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace crossrank {
class ThreadPool;
}

namespace crossrank::kernels {

// What the GEMM does to each output element after the dot product.
enum class Epilogue {
  kNone,          // c = a.w
  kBias,          // c = a.w + bias
  kBiasGelu,      // c = gelu_erf(a.w + bias)
  kBiasResidual,  // c = a.w + bias + residual
};

// Weights of one linear layer, y = x W^T + b with W as PyTorch stores it:
// [n = out_features][k = in_features], row-major. Each GEMM kernel packs W
// once at load into the layout its micro-kernel reads; `data` is that layout
// and only the kernel that packed it may read it.
//
// int8 weights (packed by qgemm_pack) fill `qdata` and `scales` instead of
// `data`: W[j][p] ~= q[j][p] * scales[j], q in [-127, 127] (symmetric, one
// scale per output channel), and gemm_parallel runs them on qgemm.
//
// bf16 weights (packed by bgemm_pack) fill `bdata` instead: W rounded to
// bf16 (kernels/bf16.h), in the layout of the table's bf16 GEMM, and
// gemm_parallel runs them on bgemm.
struct PackedWeights {
  int n = 0;
  int k = 0;
  std::vector<float> data;  // kernel-private layout
  const char* packed_for = nullptr;                // name of the GEMM that packed it
  std::vector<std::int8_t> qdata;  // kernel-private layout of q (int8 only)
  std::vector<float> scales;       // n per-output-channel scales (int8 only)
  std::vector<std::uint16_t> bdata;  // kernel-private layout of bf16 W (bf16 only)
  bool is_int8() const { return !scales.empty(); }
  bool is_bf16() const { return !bdata.empty(); }
};

// One GEMM call: c[m x n] = epilogue(a[m x k] . W^T).
struct GemmArgs {
  int m = 0;
  const float* a = nullptr;  // m rows of k floats, row stride lda
  int lda = 0;
  const PackedWeights* w = nullptr;
  const float* bias = nullptr;      // n floats; required unless kNone
  const float* residual = nullptr;  // m x n, row stride ldr; kBiasResidual only
  int ldr = 0;
  float* c = nullptr;  // m x n, row stride ldc; may alias residual exactly
  int ldc = 0;
  Epilogue epilogue = Epilogue::kNone;
};

// One sequence of a packed batch for attention.
//   qkv: seq_len rows, row stride ld_qkv; each row holds [q | k | v], each
//        num_heads * head_dim wide (the fused QKV GEMM's output). K and V
//        of every token are read from here.
//   q:   num_queries query rows, row stride ld_q, num_heads * head_dim
//        wide: qkv itself (ld_q = ld_qkv, num_queries = seq_len) for full
//        self-attention, or elsewhere when only some rows are queried (the
//        last layer needs only the [CLS] row).
//   out: num_queries rows, row stride ld_out, num_heads * head_dim wide.
// Computes, for head h, softmax(q_h k_h^T * scale) v_h. No padding: every
// query attends to every token of the sequence, or, with a sliding window
// (window > 0, as ModernBERT's local layers), only to the keys within
// window / 2 positions of its own: key j for the query at sequence position
// p when |p - j| <= window / 2 (query row r is at position
// query_position + r).
struct AttentionArgs {
  const float* qkv = nullptr;
  int ld_qkv = 0;
  const float* q = nullptr;
  int ld_q = 0;
  int num_queries = 0;
  float* out = nullptr;
  int ld_out = 0;
  int seq_len = 0;
  int num_heads = 0;
  int head_dim = 0;
  float scale = 0.f;
  float* scratch = nullptr;  // at least attention_scratch_floats(seq_len, head_dim)
  int window = 0;            // 0: every key; else keys within window / 2 of the query
  int query_position = 0;    // sequence position of query row 0 (used with a window)
};

// The keys [begin, end) the query at sequence position `position` attends to.
struct KeyRange {
  int begin;
  int end;
};
inline KeyRange attended_keys(const AttentionArgs& args, int position) {
  if (args.window <= 0) return {0, args.seq_len};
  const int half = args.window / 2;
  const int begin = position - half < 0 ? 0 : position - half;
  const int end = position + half + 1 > args.seq_len ? args.seq_len : position + half + 1;
  return {begin, end};
}

std::size_t attention_scratch_floats(int seq_len, int head_dim);

struct KernelTable {
  const char* isa = nullptr;  // "ref", "avx2_fma", "avx512f", "avx512vnni", "amx", "neon", ...

  // --- GEMM -----------------------------------------------------------
  const char* gemm_name = nullptr;  // e.g. "f32_gemm_6x16__avx2_fma"
  int gemm_mr = 1;                  // rows of the micro-tile
  int gemm_nr = 1;                  // columns of the micro-tile
  // Packs w ([n][k] row-major) into out (resized as needed).
  void (*gemm_pack)(const float* w, int n, int k, PackedWeights* out) = nullptr;
  // Computes rows [row_begin, row_end) and columns [col_begin, col_end) of
  // the output. col_begin is a multiple of gemm_nr; col_end is a multiple of
  // gemm_nr or equals n. Threads call this on disjoint blocks at once.
  void (*gemm)(const GemmArgs& args, int row_begin, int row_end, int col_begin,
               int col_end) = nullptr;

  // --- element-wise and row ops -----------------------------------------
  // out[r] = layernorm(x[r] (+ residual[r])) * gamma + beta, over `cols`
  // columns; residual may be null; out may alias x or residual.
  // Mean and variance as PyTorch: biased variance, eps inside the sqrt.
  void (*add_layernorm)(const float* x, const float* residual, const float* gamma,
                        const float* beta, float eps, int rows, int cols, int ld,
                        float* out) = nullptr;
  // x[i] = 0.5 x (1 + erf(x / sqrt 2)) in place.
  void (*gelu_erf)(float* x, std::size_t count) = nullptr;
  // x[i] = tanh(x[i]) in place.
  void (*tanh)(float* x, std::size_t count) = nullptr;
  // One sequence, every head (see AttentionArgs).
  void (*attention)(const AttentionArgs& args) = nullptr;
  // Attention for heads [head_begin, head_end) only, so threads can split
  // one long sequence by head. attention() is this over all heads.
  void (*attention_heads)(const AttentionArgs& args, int head_begin,
                          int head_end) = nullptr;

  // --- int8 GEMM --------------------------------------------------------
  const char* qgemm_name = nullptr;  // e.g. "qs8_gemm_4x16__avx2"
  int qgemm_mr = 1;
  int qgemm_nr = 1;
  // Packs q ([n][k] row-major, every value in [-127, 127]) and its n
  // per-output-channel scales into out->qdata and out->scales.
  void (*qgemm_pack)(const std::int8_t* q, const float* scales, int n, int k,
                     PackedWeights* out) = nullptr;
  // gemm's contract on int8 weights. Each row of a is quantised on the fly
  // in blocks of kQuantBlock columns (quantize_blocks_s8, below); the int8
  // dot product of each block is exact in int32; then
  // c = epilogue((sum over blocks of float(dot_b) * block_scale_b) * scales[j]).
  void (*qgemm)(const GemmArgs& args, int row_begin, int row_end, int col_begin,
                int col_end) = nullptr;

  // --- bf16 GEMM (null in tables without one) ------------------------------
  const char* bgemm_name = nullptr;  // e.g. "bf16_gemm_8x32__avx512bf16"
  int bgemm_mr = 1;
  int bgemm_nr = 1;
  // Rounds w ([n][k] row-major) to bf16 (f32_to_bf16) into out->bdata.
  void (*bgemm_pack)(const float* w, int n, int k, PackedWeights* out) = nullptr;
  // gemm's contract on bf16 weights: each element of a is rounded to bf16
  // (f32_to_bf16) and, with k zero-padded to even, each output is
  //   s = 0; for each pair q: s = (s + a[2q+1] w[2q+1]) + a[2q] w[2q]
  // in fp32 (each product of two bf16 values is exact in fp32; the two
  // additions round), then c = epilogue(s) -- vdpbf16ps's order, so the
  // reference (ref::bgemm) and the kernels agree bit for bit before the
  // epilogue.
  void (*bgemm)(const GemmArgs& args, int row_begin, int row_end, int col_begin,
                int col_end) = nullptr;

  // --- attention on bf16 (null in tables without it) ------------------------
  // attention_heads with Q K^T and P V on bf16 inputs and fp32 sums, for
  // models whose dtype is bf16. Q, K and V are rounded to bf16 (f32_to_bf16);
  // with head_dim zero-padded to even, each score is the bgemm sum of a
  // query row and a key row (pairs of columns, the odd one first) times
  // scale; softmax in fp32 on the unnormalised weights p_j = exp(s_j - max)
  // as the x86 kernels compute it (x86/softmax_row.h: that exp, the sum in
  // eight lanes by key index mod 8); each p_j is rounded to bf16 and each
  // output column is the bgemm sum over pairs of keys (2q, 2q+1), from key
  // 0, of p_j v_j, times 1 / sum p. ref::attention_bf16_heads computes
  // exactly this, so a kernel gives its bits.
  void (*attention_bf16_heads)(const AttentionArgs& args, int head_begin,
                               int head_end) = nullptr;

  // --- provenance -------------------------------------------------------
  // The isa of the table whose code runs each op: this table's own, or that
  // of the table it borrows the op from (kernels/ops.h lists both).
  struct Implementations {
    const char* gemm = nullptr;
    const char* qgemm = nullptr;
    const char* add_layernorm = nullptr;
    const char* gelu_erf = nullptr;
    const char* tanh = nullptr;
    const char* attention = nullptr;
    const char* bgemm = nullptr;  // null without a bf16 GEMM
    const char* attention_bf16 = nullptr;  // null without attention on bf16
  };
  Implementations implemented_by;
};

// Symmetric quantisation shared by every int8 path (and so exact across
// tables): scale = max|x| / 127, q[p] = round-half-even(x[p] * (127 /
// max|x|)), which lies in [-127, 127]; an all-zero row gets scale 0 and q = 0.
// Writes k values of q and returns the scale. Weights use it per output
// channel. SIMD versions must give the same q bit for bit (the kernel tests
// compare them with this).
float quantize_row_s8(const float* x, int k, std::int8_t* q);

// Activations are quantised per row in blocks of this many columns, each
// with its own scale: BERT's LayerNorm outputs have a few outlier channels
// (tens of times the others), and one scale per row would leave the other
// channels only a few levels. Measured on the MiniLM fixture over 3 TREC
// DL queries: mean Spearman int8 vs fp32 0.983 with one scale per row,
// 0.997 with blocks of 32.
inline constexpr int kQuantBlock = 32;

// quantize_row_s8 on each block [b * kQuantBlock, (b + 1) * kQuantBlock) of
// x (the last one may be shorter): writes k values of q and
// ceil(k / kQuantBlock) scales.
void quantize_blocks_s8(const float* x, int k, std::int8_t* q, float* block_scales);

// The scalar reference table (always available).
const KernelTable& ref_kernels();

// The AVX2+FMA table, or nullptr when this build has no AVX2 kernels (not
// x86-64). Non-null does not mean this CPU can run it: check cpu_features()
// (avx2 && fma) or use available_kernels().
const KernelTable* avx2_kernels();

// The table with the AVX-512F GEMM and attention (other kernels from the
// AVX2 table), or
// nullptr when this build has none. Runnable when cpu_features() has avx512f
// as well as avx2 and fma; available_kernels() checks.
const KernelTable* avx512_kernels();

// The avx512f table with the AVX-512 VNNI int8 GEMM (its fp32 ops are the
// avx512f table's), or nullptr when this build has no AVX-512 VNNI kernels
// (not x86-64). Non-null does not mean this CPU can run it: check
// cpu_features() (avx2, fma, avx512_vnni, avx512vl, avx512bw) or use
// available_kernels().
const KernelTable* avx512vnni_kernels();

// The avx512vnni table with the AVX512-BF16 (vdpbf16ps) GEMM for bf16
// weights, or nullptr when this build has none. Runnable when cpu_features()
// has avx512_bf16 as well as everything avx512vnni needs.
const KernelTable* avx512bf16_kernels();

// The avx512bf16 table with the AMX tile GEMMs (tdpbf16ps for bf16
// weights, tdpbssd for int8), or nullptr when this build has none (not
// x86-64, or a compiler without -mamx-tile). Runnable when cpu_features()
// has amx_bf16 and amx_int8 (CPUID, XCR0 and the Linux permission) as well
// as everything avx512bf16 needs.
const KernelTable* amx_kernels();

// The same AMX kernels on a scalar emulation of the tiles
// (kernels/amx/tiles.h), for tests only: never in available_kernels(),
// never chosen. Its code outside the tiles is AVX512-BF16, so it runs where
// avx512bf16_kernels() does. nullptr when this build has no AVX512-BF16
// kernels.
const KernelTable* amx_emulated_kernels();

// The NEON table, or nullptr when this build has no NEON kernels (not
// AArch64). NEON is part of the AArch64 baseline, so non-null means this
// CPU can run it.
const KernelTable* neon_kernels();

// The NEON table with the I8MM (smmla) int8 GEMM, with the BF16 (bfmmla)
// bf16 GEMM, and with both; nullptr when this build has none (not AArch64,
// or a compiler without +i8mm / +bf16). Runnable when cpu_features() has
// arm_i8mm / arm_bf16 / both; available_kernels() checks.
const KernelTable* neon_i8mm_kernels();
const KernelTable* neon_bf16_kernels();
const KernelTable* neon_i8mm_bf16_kernels();

// The best table this CPU supports, chosen once per process; the
// environment variable CROSSRANK_ISA ("ref", "avx2", "avx512", "avx512vnni",
// "avx512bf16", "amx", "neon", "neon_i8mm", "neon_bf16", "neon_i8mm_bf16") forces another one; "avx2" is the AVX2 table with the AVX2 int8
// GEMM, "avx512" adds the 512-bit fp32 GEMM and attention.
// Asking for an ISA the CPU lacks falls back to the best it has.
const KernelTable& active_kernels();

// Every table this CPU can run, best first (tests and benches iterate it).
std::vector<const KernelTable*> available_kernels();

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512_vnni = false;  // the EVEX VNNI (vpdpbusd on xmm/ymm/zmm)
  bool avx_vnni = false;     // the VEX VNNI of later CPUs (not used yet)
  bool avx512_bf16 = false;  // vcvtne2ps2bf16, vdpbf16ps
  // AMX: the CPU has the tiles (CPUID), the OS enables their state in XCR0,
  // and Linux granted this process the permission (arch_prctl); amx_bf16 and
  // amx_int8 are true only when all three hold. amx_status says which check
  // failed, or "usable", or "not an AMX CPU".
  bool amx_bf16 = false;
  bool amx_int8 = false;
  std::string amx_status;
  bool neon = false;
  // Arm BF16 (bfmmla, bfdot) and I8MM (smmla, usmmla): HWCAP2_BF16 and
  // HWCAP2_I8MM of getauxval(AT_HWCAP2), on Linux only.
  bool arm_bf16 = false;
  bool arm_i8mm = false;
  std::string brand;  // e.g. "AMD EPYC 7B13", empty if unknown
};
const CpuFeatures& cpu_features();

// Splits one GEMM over the pool in blocks of whole micro-tiles; int8
// weights run on the table's qgemm, others on its gemm.
void gemm_parallel(const KernelTable& table, const GemmArgs& args, ThreadPool& pool);
// The same for output columns [col_begin, col_end) only (bounds as for
// KernelTable::gemm: col_begin a multiple of gemm_nr, col_end too or n).
void gemm_parallel_columns(const KernelTable& table, const GemmArgs& args, int col_begin,
                           int col_end, ThreadPool& pool);

}  // namespace crossrank::kernels
