/**
 * Soak: loads and disposes models and runs predict many times, in the main
 * thread and in worker threads, sampling the process's RSS; fails if RSS
 * after warm-up grows by more than a bound. Half the models are freed by
 * dispose(), half are only dropped and left to garbage collection (the
 * finalizer), and half the workers end without disposing theirs (the
 * environment's cleanup), so a leak on any of those paths shows. A planted
 * leak of every disposed model (about 4 MB each on the tiny model) gave
 * 26-36 MB of growth in 1,000 calls per phase; a clean run stays within a few MB.
 *
 *   node --expose-gc --import=tsx bench/soak.ts [--iterations N] [--model DIR] [--bound-mb MB] [--json FILE]
 *
 * Defaults: 10,000 predict calls in each phase on test/fixtures/tiny, bound
 * 16 MB. Each call scores 8 pairs of 5 to 60 words.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { CrossEncoder } from '../lib/index.js';
import { tinyDir } from '../test/helpers/fixtures.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '10000' },
    model: { type: 'string', default: tinyDir },
    'bound-mb': { type: 'string', default: '16' },
    json: { type: 'string' },
  },
});
const iterations = Number(values.iterations);
const boundMb = Number(values['bound-mb']);
const modelDir = values.model!;
if (!Number.isInteger(iterations) || iterations < 100) throw new RangeError('--iterations must be an integer >= 100');
if (!(boundMb > 0)) throw new RangeError('--bound-mb must be a positive number');
const exposedGc = (globalThis as { gc?: () => void }).gc;
if (!exposedGc) throw new Error('run with node --expose-gc');
const gc: () => void = exposedGc;

const SAMPLES = 50;
const RELOADS = 20;
const WORKER_ROUNDS = 10;
const WORKERS = 2;
/** Samples before this fraction of a phase are warm-up: allocators and V8 reach their working size. */
const WARM_UP = 0.2;

const rssMb = () => process.memoryUsage().rss / 2 ** 20;

function callPairs(i: number): [string, string][] {
  return Array.from({ length: 8 }, (_, j) => {
    const words = 5 + ((i * 8 + j) * 7919) % 56;
    return [`query ${i % 50}`, Array.from({ length: words }, (_, w) => `word${(i + j + w) % 300}`).join(' ')];
  });
}

interface Sample {
  phase: 'main' | 'workers';
  calls: number;
  rssMb: number;
}

async function mainThreadPhase(samples: Sample[]): Promise<void> {
  const perReload = iterations / RELOADS;
  let model = CrossEncoder.load(modelDir, { threads: 2 });
  for (let i = 1; i <= iterations; i++) {
    await model.predict(callPairs(i));
    if (i % perReload === 0) {
      // Alternately disposed and dropped for the garbage collector.
      if ((i / perReload) % 2 === 0) model.dispose();
      model = CrossEncoder.load(modelDir, { threads: 2 });
    }
    if (i % (iterations / SAMPLES) === 0) {
      gc();
      samples.push({ phase: 'main', calls: i, rssMb: rssMb() });
    }
  }
  model.dispose();
}

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.lib).then(async ({ CrossEncoder }) => {
  const { modelDir, calls, first, dispose } = workerData;
  const model = CrossEncoder.load(modelDir, { threads: 1 });
  for (let i = first; i < first + calls; i++) await model.predict(workerData.pairs[i % workerData.pairs.length]);
  if (dispose) model.dispose();
  parentPort.postMessage('done');
}).catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

async function workerPhase(samples: Sample[]): Promise<void> {
  const lib = new URL('../dist/lib/index.js', import.meta.url).href;
  const callsPerWorker = iterations / WORKER_ROUNDS / WORKERS;
  const pairs = Array.from({ length: 64 }, (_, i) => callPairs(i));
  let calls = 0;
  for (let round = 1; round <= WORKER_ROUNDS; round++) {
    const runs = Array.from({ length: WORKERS }, (_, w) => {
      const worker = new Worker(workerSource, {
        eval: true,
        workerData: { lib, modelDir, calls: callsPerWorker, first: calls + w * callsPerWorker, dispose: round % 2 === 0, pairs },
      });
      return new Promise<void>((resolve, reject) => {
        worker.once('message', (message) => (message === 'done' ? resolve() : reject(new Error(JSON.stringify(message)))));
        worker.once('error', reject);
      }).finally(() => worker.terminate());
    });
    await Promise.all(runs);
    calls += callsPerWorker * WORKERS;
    gc();
    samples.push({ phase: 'workers', calls, rssMb: rssMb() });
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/**
 * Growth after warm-up: the median of the last third of the samples past
 * warm-up minus the median of the first third. Medians, because RSS saw-tooths
 * by a few MB as models are reloaded and V8 collects; a leak lifts the whole
 * saw-tooth, so both medians move apart.
 */
function growthAfterWarmUp(phase: Sample[]): { baseline: number; peak: number; growth: number } {
  const steady = phase.slice(Math.floor(phase.length * WARM_UP)).map((s) => s.rssMb);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const baseline = median(steady.slice(0, third));
  const peak = Math.max(...steady);
  return { baseline, peak, growth: median(steady.slice(-third)) - baseline };
}

const samples: Sample[] = [];
const started = performance.now();
console.log(`soak: ${iterations} predict calls in the main thread, then ${iterations} in worker threads, model ${modelDir}`);
console.log(`soak: RSS at start ${rssMb().toFixed(1)} MB`);
await mainThreadPhase(samples);
await workerPhase(samples);

let failed = false;
const report: Record<string, unknown> = { iterations, modelDir, boundMb, samples };
for (const phase of ['main', 'workers'] as const) {
  const phaseSamples = samples.filter((s) => s.phase === phase);
  const { baseline, peak, growth } = growthAfterWarmUp(phaseSamples);
  report[phase] = { baseline, peak, growth };
  console.log(`soak: ${phase}: RSS (MB) after each ${phaseSamples[0]!.calls} calls: ${phaseSamples.map((s) => s.rssMb.toFixed(1)).join(' ')}`);
  const verdict = growth <= boundMb ? 'ok' : 'FAILED';
  console.log(
    `soak: ${phase}: after warm-up ${baseline.toFixed(1)} MB (median of the first third), peak ${peak.toFixed(1)} MB, ` +
      `growth ${growth.toFixed(1)} MB to the median of the last third (bound ${boundMb} MB): ${verdict}`,
  );
  failed ||= growth > boundMb;
}
console.log(`soak: ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
if (failed) process.exitCode = 1;
