/** The public API: order, ranking, activations, batching, sync and async agree. */
import test from 'ava';

import { CrossEncoder, DEFAULT_MAX_BATCH_TOKENS } from '../lib/index.js';
import { minilmAvailable, minilmDir, tinyDir } from './helpers/fixtures.js';
import { FLOAT_FORMULA_TOL, SAME_ENGINE_TOL } from './helpers/tolerances.js';

const passages = [
  'A cross-encoder reads the query and the passage together and outputs one relevance score.',
  'Bananas are an excellent source of potassium.',
  '',
  'Rerankers are applied to the top hundred results of a fast first-stage retriever such as BM25. '.repeat(12),
  'short',
  'naïve café — Crème brûlée, 東京タワー, 서울, 🙂👍🏽',
  'The Eiffel Tower is in Paris.',
  'BM25 is a bag-of-words ranking function.',
];
const query = 'what does a cross encoder do';
const pairs = passages.map((p) => [query, p] as const);

test('config describes the model', (t) => {
  const model = CrossEncoder.load(tinyDir, { threads: 1 });
  t.is(model.config.modelType, 'bert');
  t.is(model.config.numLabels, 2);
  t.deepEqual(model.config.id2label, { 0: 'irrelevant', 1: 'relevant' });
  t.is(model.config.hiddenSize, 36);
  t.is(model.config.numAttentionHeads, 4);
  t.is(model.config.maxLength, 512);
  t.is(model.config.tokenizerSource, 'vocab.txt');
  t.is(model.config.defaultActivation, 'none'); // two labels, no sentence-transformers config
  t.is(model.threads, 1);
  t.true(Object.isFrozen(model.config));
  model.dispose();
});

test('scores come back in input order, whatever the batching', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const all = await model.predict(pairs, { activation: 'none' });
  t.is(all.length, pairs.length * 2);
  for (const [i, pair] of pairs.entries()) {
    const alone = await model.predict([pair], { activation: 'none' });
    t.true(Math.abs(alone[0]! - all[2 * i]!) < SAME_ENGINE_TOL && Math.abs(alone[1]! - all[2 * i + 1]!) < SAME_ENGINE_TOL, `pair ${i}`);
  }
  const reversed = await model.predict([...pairs].reverse(), { activation: 'none' });
  for (let i = 0; i < pairs.length; i++) {
    const j = pairs.length - 1 - i;
    t.true(Math.abs(reversed[2 * j]! - all[2 * i]!) < SAME_ENGINE_TOL);
  }
  for (const maxBatchTokens of [1, 7, 64, 100_000]) {
    const batched = await model.predict(pairs, { activation: 'none', maxBatchTokens });
    t.true(
      batched.every((v, i) => Math.abs(v - all[i]!) < SAME_ENGINE_TOL),
      `maxBatchTokens ${maxBatchTokens}`,
    );
  }
  model.dispose();
});

test('predictSync equals predict', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  t.deepEqual(model.predictSync(pairs), await model.predict(pairs));
  model.dispose();
});

test('activations: none, sigmoid, softmax', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const logits = await model.predict(pairs, { activation: 'none' });
  const sigmoid = await model.predict(pairs, { activation: 'sigmoid' });
  const softmax = await model.predict(pairs, { activation: 'softmax' });
  t.deepEqual(await model.predict(pairs), logits, 'two-label default is no activation');
  for (let i = 0; i < logits.length; i++) {
    t.true(Math.abs(sigmoid[i]! - 1 / (1 + Math.exp(-logits[i]!))) < FLOAT_FORMULA_TOL);
  }
  for (let row = 0; row < pairs.length; row++) {
    const [a, b] = [logits[2 * row]!, logits[2 * row + 1]!];
    const expected = Math.exp(b) / (Math.exp(a) + Math.exp(b));
    t.true(Math.abs(softmax[2 * row + 1]! - expected) < FLOAT_FORMULA_TOL);
    t.true(Math.abs(softmax[2 * row]! + softmax[2 * row + 1]! - 1) < FLOAT_FORMULA_TOL);
  }
  model.dispose();
});

test('onProgress reports every batch up to the total', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const seen: [number, number][] = [];
  await model.predict(pairs, { maxBatchTokens: 40, onProgress: (done, total) => seen.push([done, total]) });
  t.true(seen.length > 1);
  t.deepEqual(seen.at(-1), [pairs.length, pairs.length]);
  t.true(seen.every(([done], i) => i === 0 || done > seen[i - 1]![0]));
  t.true(DEFAULT_MAX_BATCH_TOKENS >= 512);
  model.dispose();
});

test('rank needs a one-label model', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  await t.throwsAsync(model.rank(query, passages), { instanceOf: RangeError, message: /one output label/ });
  model.dispose();
});

test('rank sorts best first, honours topK and returnDocuments (all-MiniLM-L6-v2 fixture)', async (t) => {
  if (!minilmAvailable()) return t.pass('fixture missing outside CI');
  const model = CrossEncoder.load(minilmDir);
  t.is(model.config.defaultActivation, 'sigmoid');
  t.is(model.config.tokenizerSource, 'tokenizer.json');
  const scores = await model.predict(pairs);
  t.true(scores.every((s) => s > 0 && s < 1), 'sigmoid scores');

  const ranked = await model.rank(query, passages);
  t.is(ranked.length, passages.length);
  t.deepEqual(new Set(ranked.map((r) => r.index)).size, passages.length);
  for (const [i, r] of ranked.entries()) {
    t.is(r.score, scores[r.index]!);
    t.is(r.document, undefined);
    if (i > 0) t.true(ranked[i - 1]!.score >= r.score);
  }

  const top = await model.rank(query, passages, { topK: 3, returnDocuments: true });
  t.deepEqual(
    top.map((r) => r.index),
    ranked.slice(0, 3).map((r) => r.index),
  );
  for (const r of top) t.is(r.document, passages[r.index]);
  t.is((await model.rank(query, passages, { topK: 100 })).length, passages.length);
  t.deepEqual(await model.rank(query, []), []);
  await t.throwsAsync(model.rank(query, passages, { topK: 0 }), { instanceOf: RangeError, message: /topK/ });
  model.dispose();
});
