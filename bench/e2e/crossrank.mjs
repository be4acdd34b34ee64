// crossrank: one predict() per query; it tokenises, length-sorts and packs internally.
import { CrossEncoder } from '../../dist/lib/index.js';
import { emit, loadWorkload, parseArgs, performance, timeWorkload } from './common.mjs';

const args = parseArgs();
const workload = loadWorkload(args.data, args.queries);

const t0 = performance.now();
const model = CrossEncoder.load(args.model, { threads: args.threads, maxLength: args.maxLength });
const loadMs = performance.now() - t0;

const run = await timeWorkload(workload, (pairs) => model.predict(pairs, { activation: 'none' }));
emit({
  ...run,
  loadMs,
  settings: { threads: model.threads, maxLength: model.config.maxLength, maxBatchTokens: 'default' },
});
model.dispose();
