/** predict(pairs, { signal }): stops between batches, rejects with an AbortError, leaves the model usable. */
import test from 'ava';

import { CrossEncoder } from '../lib/index.js';
import { minilmAvailable, minilmDir, tinyDir } from './helpers/fixtures.js';

const pairs = Array.from({ length: 40 }, (_, i) => [`query ${i}`, `passage number ${i} about rerankers `.repeat(1 + (i % 5))] as const);
// About one pair per batch, so there are many points to stop at.
const oneByOne = { maxBatchTokens: 8 };

const isAbortError = (error: unknown) => error instanceof DOMException && error.name === 'AbortError';

test('an already aborted signal rejects before any work', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  let batches = 0;
  const error = await t.throwsAsync(model.predict(pairs, { signal: AbortSignal.abort(), onProgress: () => batches++ }), { any: true });
  t.true(isAbortError(error), String(error));
  t.throws(() => model.predictSync(pairs, { signal: AbortSignal.abort() }), { any: true, name: 'AbortError' });
  t.is(batches, 0);
  model.dispose();
});

test('aborting mid-call stops between batches, and the model gives the same scores afterwards', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const expected = await model.predict(pairs);
  const controller = new AbortController();
  let batches = 0;
  const error = await t.throwsAsync(
    model.predict(pairs, {
      ...oneByOne,
      signal: controller.signal,
      onProgress: () => {
        if (++batches === 3) controller.abort();
      },
    }),
    { any: true },
  );
  t.true(isAbortError(error), String(error));
  t.is(batches, 3, 'no batch ran after the abort');
  t.deepEqual(await model.predict(pairs, oneByOne), expected);
  t.deepEqual(model.predictSync(pairs), expected);
  model.dispose();
});

test('predictSync stops when its onProgress aborts', (t) => {
  const model = CrossEncoder.load(tinyDir);
  const controller = new AbortController();
  let batches = 0;
  t.throws(
    () =>
      model.predictSync(pairs, {
        ...oneByOne,
        signal: controller.signal,
        onProgress: () => {
          if (++batches === 2) controller.abort();
        },
      }),
    { any: true, name: 'AbortError' },
  );
  t.is(batches, 2);
  model.dispose();
});

test('a call aborted while its batches wait behind another call stops; the other completes', async (t) => {
  const model = CrossEncoder.load(tinyDir, { threads: 1 });
  const expected = await model.predict(pairs);
  // The call to abort has ten times the batches of the other, and the other
  // starts once it is running, so it is still queueing batches when the
  // other's third batch aborts it (whatever the tokenizer threads' timing).
  const manyPairs = Array.from({ length: 10 }, () => pairs).flat();
  const controller = new AbortController();
  let abortedCallBatches = 0;
  let batchesAtAbort = -1;
  let first: Promise<Float32Array> | undefined;
  let firstStarted!: () => void;
  const firstStart = new Promise<void>((resolve) => (firstStarted = resolve));
  const second = model.predict(manyPairs, {
    ...oneByOne,
    signal: controller.signal,
    onProgress: () => {
      if (++abortedCallBatches === 1) {
        first = model.predict(pairs, {
          ...oneByOne,
          onProgress: (done) => {
            if (done === 3) {
              batchesAtAbort = abortedCallBatches;
              controller.abort();
            }
          },
        });
        firstStarted();
      }
    },
  });
  await firstStart;
  const [firstResult, secondResult] = await Promise.allSettled([first!, second]);
  t.deepEqual(firstResult, { status: 'fulfilled', value: expected });
  t.is(secondResult.status, 'rejected');
  t.true(isAbortError((secondResult as PromiseRejectedResult).reason));
  t.true(batchesAtAbort > 0 && batchesAtAbort < manyPairs.length, `aborted after ${batchesAtAbort} batches`);
  // The two calls' batches share the model's queue; at most the one already
  // running when abort() came may finish, none queued after it starts.
  t.true(abortedCallBatches <= batchesAtAbort + 1, `${abortedCallBatches} batches, ${batchesAtAbort} at the abort`);
  model.dispose();
});

test('abort(reason) rejects with that reason, as fetch does', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const reason = new Error('client went away');
  await t.throwsAsync(model.predict(pairs, { signal: AbortSignal.abort(reason) }), { is: reason });
  model.dispose();
});

test('rank passes the signal on', async (t) => {
  if (!minilmAvailable()) return t.pass('skipped: no MiniLM fixture (rank needs a one-label model)');
  const model = CrossEncoder.load(minilmDir);
  const error = await t.throwsAsync(model.rank('q', ['a', 'b'], { signal: AbortSignal.abort() }), { any: true });
  t.true(isAbortError(error), String(error));
  t.is((await model.rank('q', ['a', 'b'])).length, 2);
  model.dispose();
});

test('a signal that is not an AbortSignal is a TypeError', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  await t.throwsAsync(model.predict(pairs, { signal: { aborted: true } as never }), {
    instanceOf: TypeError,
    message: /options\.signal must be an AbortSignal, got an object/,
  });
  model.dispose();
});
