// Splits one GEMM into blocks of whole micro-tiles and runs them on the pool
// (on the table's gemm, qgemm or bgemm, as the weights are fp32, int8 or bf16).
// Every output element is computed by the same kernel call sequence whatever
// the split, so the result does not depend on the number of threads.
#include <algorithm>

#include "common/thread_pool.h"
#include "kernels/kernels.h"

namespace crossrank::kernels {
namespace {

// Rows per block, before rounding to the micro-tile. Each block streams
// every panel of W it covers from L3 once, so W traffic falls as blocks
// grow: at K = 768-3072 the AVX2 kernel runs about 10 % faster on 288-row
// blocks than on 96-row ones (its own row block is 288 too).
constexpr int kTargetBlockRows = 288;
// Blocks per thread to aim for, so an uneven last block, or a thread that
// loses its core to another process for a while, does not leave the
// others idle for long.
constexpr int kBlocksPerThread = 4;

int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace

void gemm_parallel(const KernelTable& table, const GemmArgs& args, ThreadPool& pool) {
  gemm_parallel_columns(table, args, 0, args.w->n, pool);
}

void gemm_parallel_columns(const KernelTable& table, const GemmArgs& args, int col_begin,
                           int col_end, ThreadPool& pool) {
  const int m = args.m;
  const int n = col_end - col_begin;
  if (m <= 0 || n <= 0) return;
  const bool int8 = args.w->is_int8();
  const bool bf16 = args.w->is_bf16();
  const auto gemm = int8 ? table.qgemm : bf16 ? table.bgemm : table.gemm;
  const int threads = pool.size();
  if (threads <= 1) {
    gemm(args, 0, m, col_begin, col_end);
    return;
  }
  const int mr = std::max(1, int8 ? table.qgemm_mr : bf16 ? table.bgemm_mr : table.gemm_mr);
  const int nr = std::max(1, int8 ? table.qgemm_nr : bf16 ? table.bgemm_nr : table.gemm_nr);
  const int row_tiles = ceil_div(m, mr);
  const int col_tiles = ceil_div(n, nr);
  const int want_blocks = threads * kBlocksPerThread;

  // Row blocks of about kTargetBlockRows, all of one size, as many as a
  // multiple of the thread count so that they share out evenly. When M is
  // too small to give every thread several of them, the columns are split
  // too, rather than the rows cut finer: a column block reads only its
  // share of W, where a thinner row block would read all of W for fewer rows.
  int row_blocks = ceil_div(row_tiles, ceil_div(kTargetBlockRows, mr));
  row_blocks = std::min(row_tiles, ceil_div(row_blocks, threads) * threads);
  const int tiles_per_row_block = ceil_div(row_tiles, row_blocks);
  row_blocks = ceil_div(row_tiles, tiles_per_row_block);
  int col_blocks = 1;
  if (row_blocks < want_blocks) col_blocks = std::min(col_tiles, ceil_div(want_blocks, row_blocks));
  const int tiles_per_col_block = ceil_div(col_tiles, col_blocks);
  col_blocks = ceil_div(col_tiles, tiles_per_col_block);

  const int row_step = tiles_per_row_block * mr;
  const int col_step = tiles_per_col_block * nr;
  pool.parallel_for(static_cast<std::size_t>(row_blocks) * col_blocks, [&](std::size_t b) {
    const int rb = static_cast<int>(b / col_blocks);
    const int cb = static_cast<int>(b % col_blocks);
    const int r0 = rb * row_step;
    const int c0 = cb * col_step;
    gemm(args, r0, std::min(m, r0 + row_step), col_begin + c0,
               col_begin + std::min(n, c0 + col_step));
  });
}

}  // namespace crossrank::kernels
