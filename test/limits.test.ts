/** Caps on pairs and tokens per call, ids checked before the engine, and chunked tokenization. */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { applyActivation } from '../lib/activation.js';
import { lengthSortedBatches, scatterRows } from '../lib/batching.js';
import { TOKENIZE_CHUNK_PAIRS } from '../lib/call-limits.js';
import { CrossEncoder, DEFAULT_MAX_PAIRS_PER_CALL, DEFAULT_MAX_TOKENS_PER_CALL } from '../lib/index.js';
import { engineAddon } from '../lib/native.js';
import { tinyDir } from './helpers/fixtures.js';
import { copyModel } from './helpers/safetensors.js';

const words = ['rerank', 'passage', 'query', 'café', '東京', 'bm25', 'the', 'of', '🙂', 'retrieval'];
/** Pairs of varied lengths (1 to maxWords words), deterministic. */
const variedPairs = (count: number, maxWords = 60) =>
  Array.from({ length: count }, (_, i) => {
    const passage = Array.from({ length: 1 + ((i * 7919) % maxWords) }, (_, j) => words[(i + j * 3) % words.length]).join(' ');
    return [`query ${i % 97}`, passage] as const;
  });

test('defaults are on the config and can be set at load', (t) => {
  const model = CrossEncoder.load(tinyDir);
  t.is(model.config.maxPairsPerCall, DEFAULT_MAX_PAIRS_PER_CALL);
  t.is(model.config.maxTokensPerCall, DEFAULT_MAX_TOKENS_PER_CALL);
  model.dispose();
  const capped = CrossEncoder.load(tinyDir, { maxPairsPerCall: 10, maxTokensPerCall: 500 });
  t.is(capped.config.maxPairsPerCall, 10);
  t.is(capped.config.maxTokensPerCall, 500);
  capped.dispose();
});

test('too many pairs: RangeError naming maxPairsPerCall and how to raise it; a call may raise it', async (t) => {
  const model = CrossEncoder.load(tinyDir, { maxPairsPerCall: 3 });
  const pairs = variedPairs(4);
  const message = /4 pairs, over maxPairsPerCall \(3\).*maxPairsPerCall option of predict\(\) or CrossEncoder\.load\(\)/;
  await t.throwsAsync(model.predict(pairs), { instanceOf: RangeError, message });
  t.throws(() => model.predictSync(pairs), { instanceOf: RangeError, message });
  t.is((await model.predict(pairs.slice(0, 3))).length, 6);
  t.is((await model.predict(pairs, { maxPairsPerCall: 4 })).length, 8);
  // A call may lower it too.
  await t.throwsAsync(model.predict(pairs.slice(0, 2), { maxPairsPerCall: 1 }), { instanceOf: RangeError, message: /maxPairsPerCall \(1\)/ });
  model.dispose();
});

test('too many tokens: RangeError before any batch runs, naming maxTokensPerCall', async (t) => {
  const pairs = variedPairs(TOKENIZE_CHUNK_PAIRS * 2 + 5); // counted over three chunks
  const model = CrossEncoder.load(tinyDir);
  const total = model.tokenize(pairs).ids.length;
  const few = pairs.slice(0, 10);
  const fewTotal = model.tokenize(few).ids.length;
  let batchesRun = 0;
  const onProgress = () => batchesRun++;
  const message = new RegExp(`over maxTokensPerCall \\(${total - 1}\\).*maxTokensPerCall option`);
  await t.throwsAsync(model.predict(pairs, { maxTokensPerCall: total - 1, onProgress }), { instanceOf: RangeError, message });
  t.throws(() => model.predictSync(pairs, { maxTokensPerCall: total - 1, onProgress }), { instanceOf: RangeError, message });
  t.is(batchesRun, 0);
  // Exactly at the cap is allowed.
  t.is((await model.predict(few, { maxTokensPerCall: fewTotal })).length, few.length * 2);
  await t.throwsAsync(model.predict(few, { maxTokensPerCall: fewTotal - 1 }), { instanceOf: RangeError, message: /maxTokensPerCall/ });
  model.dispose();

  const capped = CrossEncoder.load(tinyDir, { maxTokensPerCall: 10 });
  await t.throwsAsync(capped.predict([['a long query about rerankers', 'and a passage']]), {
    instanceOf: RangeError,
    message: /maxTokensPerCall \(10\).*in its first 1 pairs/,
  });
  capped.dispose();
});

test('limit options are checked', async (t) => {
  t.throws(() => CrossEncoder.load(tinyDir, { maxPairsPerCall: 0 }), { instanceOf: RangeError, message: /options\.maxPairsPerCall/ });
  t.throws(() => CrossEncoder.load(tinyDir, { maxTokensPerCall: 2.5 }), { instanceOf: TypeError, message: /options\.maxTokensPerCall/ });
  const model = CrossEncoder.load(tinyDir);
  await t.throwsAsync(model.predict([['a', 'b']], { maxPairsPerCall: -1 }), { instanceOf: RangeError, message: /maxPairsPerCall/ });
  await t.throwsAsync(model.predict([['a', 'b']], { maxTokensPerCall: '9' as never }), { instanceOf: TypeError, message: /maxTokensPerCall/ });
  model.dispose();
});

test('tokenizer ids beyond config.json vocab_size are refused before the engine, naming the pair', async (t) => {
  // A vocab.txt with more entries than the weights have rows: a mismatched folder.
  const dir = copyModel(tinyDir);
  appendFileSync(join(dir, 'vocab.txt'), 'zzoutofvocabularytoken\n');
  const model = CrossEncoder.load(dir);
  const pairs = [
    ['fine', 'fine'],
    ['query', 'zzoutofvocabularytoken'],
  ] as const;
  const message = new RegExp(`pairs\\[1\\]: token id ${model.config.vocabSize} is outside the vocabulary \\(vocab_size ${model.config.vocabSize}\\).*config\\.json`);
  await t.throwsAsync(model.predict(pairs), { instanceOf: RangeError, message });
  t.throws(() => model.predictSync(pairs), { instanceOf: RangeError, message });
  t.is((await model.predict([pairs[0]])).length, 2);
  model.dispose();
});

test('the engine itself refuses ids and type ids outside its tables', async (t) => {
  const { Model } = engineAddon();
  const model = new Model(tinyDir, { threads: 1 });
  const { vocabSize, typeVocabSize } = model.config;
  const lengths = Uint32Array.of(3);
  const good = Uint32Array.of(101, 7, 102);
  const types = Uint8Array.of(0, 0, 1);
  t.is((await model.run(good, types, lengths)).length, 2);
  const badId = Uint32Array.of(101, vocabSize, 102);
  const idMessage = `ids[1] = ${vocabSize} is outside the vocabulary (vocab_size ${vocabSize})`;
  await t.throwsAsync(model.run(badId, types, lengths), { instanceOf: RangeError, message: idMessage });
  t.throws(() => model.runSync(Uint32Array.of(101, 0xffffffff, 102), types, lengths), { instanceOf: RangeError, message: /ids\[1\] = 4294967295/ });
  const badType = Uint8Array.of(0, typeVocabSize, 255);
  await t.throwsAsync(model.run(good, badType, lengths), {
    instanceOf: RangeError,
    message: `typeIds[1] = ${typeVocabSize} is outside [0, ${typeVocabSize}) (type_vocab_size ${typeVocabSize})`,
  });
  model.dispose();
});

test('chunked tokenization gives exactly the scores of tokenizing the whole call at once', async (t) => {
  const pairs = variedPairs(TOKENIZE_CHUNK_PAIRS * 2 + 123, 12);
  const model = CrossEncoder.load(tinyDir, { threads: 2 });
  const chunked = await model.predict(pairs, { activation: 'softmax' });

  // The algorithm before chunking: one tokenization of every pair, one global length sort.
  const engine = new (engineAddon().Model)(tinyDir, { threads: 2 });
  const numLabels = model.config.numLabels;
  const whole = new Float32Array(pairs.length * numLabels);
  for (const batch of lengthSortedBatches(model.tokenize(pairs), 4096)) {
    scatterRows(await engine.run(batch.ids, batch.typeIds, batch.lengths), batch.indices, numLabels, whole);
  }
  applyActivation(whole, numLabels, 'softmax');
  t.deepEqual(chunked, whole);
  t.deepEqual(model.predictSync(pairs, { activation: 'softmax' }), whole);
  engine.dispose();
  model.dispose();
});
