// crossrank: one predict() per query; it tokenises, length-sorts and packs internally.
//   --dtype fp32|int8|bf16   the load option (default fp32)
//   --isa NAME          CROSSRANK_ISA for this process (e.g. avx2: the AVX2 int8
//                       kernel on a CPU that has the AVX-512 VNNI one)
//   --bf16-attention on  CROSSRANK_BF16_ATTENTION=1: a bf16 model's attention on bf16
//                       (opt-in; to measure what it gains)
import { CrossEncoder, cpuInfo } from '../../dist/lib/index.js';
import { emit, loadWorkload, parseArgs, performance, timeWorkload } from './common.mjs';

const args = parseArgs();
const workload = loadWorkload(args.data, args.queries);
// Read when the engine first chooses its kernels, at the first load.
if (args.isa) process.env.CROSSRANK_ISA = args.isa;
// Read when a bf16 model is loaded.
if (args['bf16-attention'] === 'on') process.env.CROSSRANK_BF16_ATTENTION = '1';

const t0 = performance.now();
const dtype = args.dtype ?? 'fp32';
const model = CrossEncoder.load(args.model, { threads: args.threads, maxLength: args.maxLength, dtype });
const loadMs = performance.now() - t0;

const run = await timeWorkload(workload, (pairs) => model.predict(pairs, { activation: 'none' }));
emit({
  ...run,
  loadMs,
  settings: {
    threads: model.threads,
    maxLength: model.config.maxLength,
    maxBatchTokens: 'default',
    dtype: model.config.dtype,
    kernels: cpuInfo().isa,
    ...(model.config.dtype === 'int8' ? { qgemm: cpuInfo().kernels.qgemm } : {}),
    ...(model.config.dtype === 'bf16'
      ? { bgemm: cpuInfo().kernels.bgemm, attention: args['bf16-attention'] === 'on' ? cpuInfo().kernels.attentionBf16 || 'fp32' : 'fp32' }
      : {}),
  },
});
model.dispose();
