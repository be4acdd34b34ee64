/** Native memory and threads are released: by dispose(), by garbage collection, and when a worker dies mid-run. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';

import test from 'ava';

import { tinyDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const lib = new URL('../dist/lib/index.js', import.meta.url).href;

// Each model owns a pool of threads - 1 worker threads, so a leaked model is
// visible in the process's thread count.
const leakProbe = `
const { readFileSync } = require('node:fs');
const threads = () => Number(readFileSync('/proc/self/status', 'utf8').match(/Threads:\\s+(\\d+)/)[1]);
import(process.argv[1]).then(async ({ CrossEncoder }) => {
  const counts = [];
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 100; i++) {
      const model = CrossEncoder.load(process.argv[2], { threads: 3 });
      if (i % 25 === 0) await model.predict([['a', 'b']]);
      if (process.argv[3] === 'dispose') model.dispose();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    global.gc();
    counts.push(threads());
  }
  console.log(JSON.stringify(counts));
});
`;

for (const mode of ['dispose', 'gc'] as const) {
  test(`400 models released by ${mode === 'gc' ? 'garbage collection alone' : 'dispose()'} leave no threads behind`, async (t) => {
    const { stdout } = await run('node', ['--expose-gc', '-e', leakProbe, lib, tinyDir, mode]);
    const counts = JSON.parse(stdout) as number[];
    t.log(`threads after each round of 100 models: ${counts.join(', ')}`);
    // 400 leaked models would hold 800 threads; Node itself runs about a dozen.
    t.true(Math.max(...counts) < 60, `thread counts ${counts.join(', ')}`);
  });
}

test('terminating a worker while its predict runs does not crash the process', async (t) => {
  const source = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.lib).then(({ CrossEncoder }) => {
  const model = CrossEncoder.load(workerData.model);
  const pairs = Array.from({ length: 200 }, (_, i) => ['query', 'a long passage '.repeat(100) + i]);
  model.predict(pairs);
  parentPort.postMessage('running');
});
`;
  const worker = new Worker(source, { eval: true, workerData: { lib, model: tinyDir } });
  await new Promise((resolve) => worker.once('message', resolve));
  const code = await worker.terminate();
  t.is(code, 1);
  // The main thread still works after the worker's environment was torn down.
  const { CrossEncoder } = (await import(lib)) as typeof import('../lib/index.js');
  const model = CrossEncoder.load(tinyDir);
  t.is((await model.predict([['a', 'b']])).length, 2);
  model.dispose();
});
