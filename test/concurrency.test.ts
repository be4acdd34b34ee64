/** Many calls at once, and models in worker threads. */
import { Worker } from 'node:worker_threads';

import test from 'ava';

import { CrossEncoder } from '../lib/index.js';
import { tinyDir } from './helpers/fixtures.js';

const pairsFor = (i: number) =>
  [
    [`query ${i}`, `passage ${i} about cross encoders `.repeat((i % 7) + 1)],
    ['what is bm25', `doc ${i}`],
  ] as const;

test('100 concurrent predict calls all resolve, each equal to the sequential result', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const sequential: Float32Array[] = [];
  for (let i = 0; i < 100; i++) sequential.push(await model.predict(pairsFor(i)));
  const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => model.predict(pairsFor(i))));
  for (let i = 0; i < 100; i++) t.deepEqual(concurrent[i], sequential[i], `call ${i}`);
  model.dispose();
});

test('concurrent calls on two models and predictSync interleaved', async (t) => {
  const a = CrossEncoder.load(tinyDir, { threads: 1 });
  const b = CrossEncoder.load(tinyDir, { threads: 2 });
  const expected = a.predictSync(pairsFor(3));
  const results = await Promise.all([a.predict(pairsFor(3)), b.predict(pairsFor(3)), a.predict(pairsFor(3))]);
  t.deepEqual(b.predictSync(pairsFor(3)), expected);
  for (const r of results) t.deepEqual(r, expected);
  a.dispose();
  b.dispose();
});

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.lib).then(async ({ CrossEncoder }) => {
  const model = CrossEncoder.load(workerData.model);
  const scores = await model.predict(workerData.pairs);
  model.dispose();
  parentPort.postMessage(Array.from(scores));
}).catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

test('loads and predicts inside worker threads, several at once', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const pairs = pairsFor(5);
  const expected = Array.from(await model.predict(pairs));
  model.dispose();
  // The worker loads the compiled package, as a user's worker would.
  const lib = new URL('../dist/lib/index.js', import.meta.url).href;
  const runs = Array.from(
    { length: 3 },
    () =>
      new Promise<unknown>((resolve, reject) => {
        const worker = new Worker(workerSource, {
          eval: true,
          workerData: { lib, model: tinyDir, pairs },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
  );
  for (const result of await Promise.all(runs)) t.deepEqual(result, expected);
});
