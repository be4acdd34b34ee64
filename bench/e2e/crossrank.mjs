// crossrank: one predict() per query; it tokenises, length-sorts and packs internally.
//   --dtype fp32|int8   the load option (default fp32)
import { CrossEncoder } from '../../dist/lib/index.js';
import { emit, loadWorkload, parseArgs, performance, timeWorkload } from './common.mjs';

const args = parseArgs();
const workload = loadWorkload(args.data, args.queries);

const t0 = performance.now();
const dtype = args.dtype ?? 'fp32';
const model = CrossEncoder.load(args.model, { threads: args.threads, maxLength: args.maxLength, dtype });
const loadMs = performance.now() - t0;

const run = await timeWorkload(workload, (pairs) => model.predict(pairs, { activation: 'none' }));
emit({
  ...run,
  loadMs,
  settings: { threads: model.threads, maxLength: model.config.maxLength, maxBatchTokens: 'default', dtype: model.config.dtype },
});
model.dispose();
