/**
 * CrossEncoder#encode: pooled hidden states after any layer, against
 * transformers' output_hidden_states (hidden_states[layer]) on the committed
 * tiny models (BERT, XLM-R, RoBERTa, ELECTRA) and the MiniLM-L6 cross-encoder, and its
 * argument checks.
 */
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import { CrossEncoder, DisposedError } from '../lib/index.js';
import { fixturesDir, minilmAvailable, minilmDir, sharedDataAvailable, tinyDir } from './helpers/fixtures.js';
import { type HiddenGoldenFile, loadHiddenGoldens, maxAbsDiff, resolveText } from './helpers/goldens.js';
import { HIDDEN_TOL, SAME_ENGINE_TOL } from './helpers/tolerances.js';

async function checkHiddenParity(t: ExecutionContext, dir: string, goldens: HiddenGoldenFile, tolerance: number) {
  const model = CrossEncoder.load(dir);
  try {
    t.is(model.config.numHiddenLayers, goldens.numHiddenLayers);
    const pairs = goldens.cases.map((c) => [resolveText(c.query), resolveText(c.passage)] as const);
    for (const c of goldens.cases) t.is(c.maxLength, model.config.maxLength, c.name);
    // Token ids first: a tokenizer difference would show as a hidden-state one.
    const encoded = model.tokenize(pairs);
    let offset = 0;
    for (const [i, c] of goldens.cases.entries()) {
      const length = encoded.lengths[i]!;
      t.deepEqual(Array.from(encoded.ids.subarray(offset, offset + length)), c.ids, `ids of ${c.name}`);
      offset += length;
    }
    const hidden = model.config.hiddenSize;
    for (const layer of goldens.layers) {
      for (const pooling of ['cls', 'mean'] as const) {
        // A small batch budget too, so several engine batches run.
        const got = await model.encode(pairs, { layer, pooling, maxBatchTokens: 600 });
        t.is(got.length, pairs.length * hidden);
        let max = 0;
        let worst = '';
        for (const [i, c] of goldens.cases.entries()) {
          const diff = maxAbsDiff(got.subarray(i * hidden, (i + 1) * hidden), c.hidden[String(layer)]![pooling]);
          if (diff > max) [max, worst] = [diff, c.name];
        }
        t.log(`${goldens.model} layer ${layer} ${pooling}: max |diff| ${max.toExponential(2)} (${worst})`);
        t.true(max <= tolerance, `layer ${layer} ${pooling}: ${max} > ${tolerance} on ${worst}`);
      }
    }
  } finally {
    model.dispose();
  }
}

test(`tiny model: hidden states after every layer, [CLS] and mean, within ${HIDDEN_TOL.toExponential()} of PyTorch`, async (t) => {
  if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
  await checkHiddenParity(t, tinyDir, loadHiddenGoldens('tiny'), HIDDEN_TOL);
});

test(`MiniLM-L6 cross-encoder: hidden states at layers 0, 1, 3, 6 within ${HIDDEN_TOL.toExponential()} of PyTorch`, async (t) => {
  if (!minilmAvailable() || !sharedDataAvailable()) return t.pass('fixture missing outside CI');
  await checkHiddenParity(t, minilmDir, loadHiddenGoldens('minilm'), HIDDEN_TOL);
});

// ModernBERT's last layer is last_hidden_state, after its final norm (see make-modernbert-fixtures.py).
for (const family of ['tiny-xlm-roberta', 'tiny-roberta', 'tiny-electra', 'tiny-modernbert', 'tiny-modernbert-mean'] as const) {
  test(`${family}: hidden states after every layer, [CLS] and mean, within 1e-4 of PyTorch`, async (t) => {
    if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
    await checkHiddenParity(t, join(fixturesDir, family), loadHiddenGoldens(family), 1e-4);
  });
}

test('encode keeps input order and matches encoding each pair alone', async (t) => {
  const model = CrossEncoder.load(tinyDir, { threads: 2 });
  const pairs = [
    ['short', 'pair'],
    ['a much longer query with many more words in it', 'and a passage that is long as well, longer than the others'],
    ['', ''],
    ['medium query here', 'medium passage'],
  ] as const;
  const hidden = model.config.hiddenSize;
  for (const pooling of ['cls', 'mean'] as const) {
    const all = await model.encode(pairs, { layer: 2, pooling, maxBatchTokens: 8 });
    for (const [i, pair] of pairs.entries()) {
      const alone = await model.encode([pair], { layer: 2, pooling });
      t.true(maxAbsDiff(all.subarray(i * hidden, (i + 1) * hidden), alone) <= SAME_ENGINE_TOL, `${pooling} pair ${i}`);
    }
  }
  t.is((await model.encode([], { layer: 0, pooling: 'cls' })).length, 0);
  model.dispose();
});

test('encode: layer and pooling are checked with errors naming them', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const pairs = [['q', 'p']] as const;
  const range = /options\.layer must be between 0 \(the embeddings\) and 2 \(this model's last layer, num_hidden_layers\), got/;
  await t.throwsAsync(model.encode(pairs, { layer: 3, pooling: 'cls' }), { instanceOf: RangeError, message: range });
  await t.throwsAsync(model.encode(pairs, { layer: -1, pooling: 'mean' }), { instanceOf: RangeError, message: range });
  await t.throwsAsync(model.encode(pairs, { layer: 1.5, pooling: 'cls' }), {
    instanceOf: TypeError,
    message: /options\.layer must be an integer, got number 1\.5/,
  });
  await t.throwsAsync(model.encode(pairs, { pooling: 'cls' } as never), { instanceOf: TypeError, message: /options\.layer/ });
  await t.throwsAsync(model.encode(pairs, { layer: 1, pooling: 'max' as never }), {
    instanceOf: RangeError,
    message: /options\.pooling must be one of 'cls', 'mean', got the string "max"/,
  });
  await t.throwsAsync(model.encode(pairs, { layer: 1 } as never), { instanceOf: TypeError, message: /options\.pooling/ });
  await t.throwsAsync(model.encode(pairs, undefined as never), { instanceOf: TypeError, message: /encode options must be an object/ });
  await t.throwsAsync(model.encode([['q', 3]] as never, { layer: 1, pooling: 'cls' }), {
    instanceOf: TypeError,
    message: /pairs\[0\]\[1\] must be a string/,
  });
  await t.throwsAsync(model.encode(pairs, { layer: 1, pooling: 'cls', maxPairsPerCall: 0 }), {
    instanceOf: RangeError,
    message: /options\.maxPairsPerCall/,
  });
  await t.throwsAsync(model.encode([...pairs, ...pairs], { layer: 1, pooling: 'cls', maxPairsPerCall: 1 }), {
    instanceOf: RangeError,
    message: /2 pairs, over maxPairsPerCall \(1\).*option of encode\(\) or CrossEncoder\.load\(\)/,
  });
  model.dispose();
  await t.throwsAsync(model.encode(pairs, { layer: 1, pooling: 'cls' }), { instanceOf: DisposedError });
});

test('encode: an aborted signal rejects and the model stays usable', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const controller = new AbortController();
  controller.abort();
  await t.throwsAsync(model.encode([['q', 'p']], { layer: 1, pooling: 'mean', signal: controller.signal }), {
    any: true,
    name: 'AbortError',
  });
  t.is((await model.encode([['q', 'p']], { layer: 1, pooling: 'mean' })).length, model.config.hiddenSize);
  model.dispose();
});
