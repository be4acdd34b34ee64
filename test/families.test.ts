/**
 * The encoder families beyond BERT (XLM-RoBERTa, RoBERTa, ELECTRA, ModernBERT):
 * tiny random cross-encoders with real tokenizers of each family, made by
 * scripts/make-family-fixtures.py (ModernBERT: scripts/make-modernbert-fixtures.py),
 * against transformers' goldens. Token ids
 * exact and logits within 1e-5 in fp32; int8 and bf16 close to fp32; rank and
 * encode run on them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import * as crossrank from '../lib/index.js';
import { cpuInfo, CrossEncoder, type Dtype, quantizeModel } from '../lib/index.js';
import { fixturesDir, sharedDataAvailable } from './helpers/fixtures.js';
import { loadGoldens, resolveText } from './helpers/goldens.js';
import { checkParity } from './helpers/parity.js';

// fp32 against PyTorch's fp32 on a 36-wide random model, as for tiny/.
const FP32_LOGIT_TOLERANCE = 1e-5;
// int8 error relative to the largest logit: an error of the scheme (a wrong
// scale, a sign) is of the size of the logits themselves.
const INT8_RELATIVE_TOLERANCE = 0.1;
// bf16 error relative to the largest logit: each GEMM input keeps 8
// significant bits (relative error 2^-9), a few 1e-3 of the logits over two
// layers; a wrong pairing or rounding is of the size of the logits.
const BF16_RELATIVE_TOLERANCE = 0.02;
// ModernBERT's tiny models: their last hidden states are as close to fp32 as
// the others' (int8 ~2-3 %, bf16 ~0.8 % of the largest value, measured with
// encode), but 4 layers instead of 2 and a head whose LayerNorm renormalises
// the 40-wide pooled row magnify that in the logits: tiny-modernbert's max
// |logit| 3.15, int8 off by 0.35, bf16 by 0.072. A scheme error is still of
// the size of the logits.
const MODERNBERT_INT8_RELATIVE_TOLERANCE = 0.2;
const MODERNBERT_BF16_RELATIVE_TOLERANCE = 0.05;

const bgemm = cpuInfo().kernels['bgemm'] ?? '';
/** bf16 runs only where the active kernels have a bf16 GEMM: elsewhere skipped, saying so. */
const bf16Test = bgemm === '' ? test.skip : test;
if (bgemm === '') console.warn(`NOT RUN: families bf16 tests: the active kernels (${cpuInfo().isa}) have no bf16 GEMM`);

const families = [
  { name: 'tiny-xlm-roberta', modelType: 'xlm-roberta', numLabels: 1, roberta: true, int8: INT8_RELATIVE_TOLERANCE, bf16: BF16_RELATIVE_TOLERANCE },
  { name: 'tiny-roberta', modelType: 'roberta', numLabels: 2, roberta: true, int8: INT8_RELATIVE_TOLERANCE, bf16: BF16_RELATIVE_TOLERANCE },
  { name: 'tiny-electra', modelType: 'electra', numLabels: 1, roberta: false, int8: INT8_RELATIVE_TOLERANCE, bf16: BF16_RELATIVE_TOLERANCE },
  // [CLS] pooling without biases, and mean pooling with every bias.
  { name: 'tiny-modernbert', modelType: 'modernbert', numLabels: 1, roberta: false, int8: MODERNBERT_INT8_RELATIVE_TOLERANCE, bf16: MODERNBERT_BF16_RELATIVE_TOLERANCE },
  { name: 'tiny-modernbert-mean', modelType: 'modernbert', numLabels: 2, roberta: false, int8: MODERNBERT_INT8_RELATIVE_TOLERANCE, bf16: MODERNBERT_BF16_RELATIVE_TOLERANCE },
] as const;

for (const family of families) {
  const dir = join(fixturesDir, family.name);

  test(`${family.name}: token ids exact, logits within ${FP32_LOGIT_TOLERANCE} of PyTorch`, async (t) => {
    if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
    const goldens = loadGoldens(family.name);
    t.is(goldens.numLabels, family.numLabels);
    const result = await checkParity(t, crossrank, dir, goldens, FP32_LOGIT_TOLERANCE);
    t.true(result.cases >= 300);
  });

  if (family.roberta) test(`${family.name}: config, no token types, positions after pad_token_id`, (t) => {
    const model = CrossEncoder.load(dir);
    t.is(model.config.modelType, family.modelType);
    t.is(model.config.typeVocabSize, 1);
    t.is(model.config.maxLength, 512);
    t.is(model.config.maxPositionEmbeddings, 514);
    // Positions 0 and 1 are never used: 513 tokens do not fit.
    t.throws(() => CrossEncoder.load(dir, { maxLength: 513 }), { instanceOf: RangeError, message: /maxLength 513 exceeds/ });
    // <s> A </s></s> B </s>, every type id 0.
    const encoded = model.tokenize([['a', 'b']]);
    const ids = Array.from(encoded.ids);
    t.deepEqual([ids[0], ids.at(-1)], [0, 2]);
    t.is(ids.filter((id) => id === 2).length, 3);
    t.true(Array.from(encoded.typeIds).every((v) => v === 0));
    model.dispose();
  });

  for (const [dtype, tolerance, run] of [
    ['int8', family.int8, test],
    ['bf16', family.bf16, bf16Test],
  ] as const) run(`${family.name}: ${dtype}, at load and pre-quantised, stays close to fp32`, async (t) => {
    if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
    const goldens = loadGoldens(family.name);
    const cases = goldens.cases.filter((c) => c.maxLength === 512 && c.truncation === 'longest_first');
    const pairs = cases.map((c) => [resolveText(c.query), resolveText(c.passage)] as [string, string]);
    const atLoad = CrossEncoder.load(dir, { dtype: dtype as Dtype });
    const quantized = join(mkdtempSync(join(tmpdir(), 'crossrank-family-')), dtype);
    quantizeModel(dir, quantized, { dtype });
    const fromFile = CrossEncoder.load(quantized);
    t.is(atLoad.config.dtype, dtype);
    t.is(fromFile.config.dtype, dtype);
    const a = await atLoad.predict(pairs, { activation: 'none' });
    const b = await fromFile.predict(pairs, { activation: 'none' });
    t.deepEqual(a, b, `a ${dtype} file computes what load-time rounding does`);
    let maxDiff = 0;
    let maxAbs = 0;
    for (const [i, c] of cases.entries()) {
      for (let j = 0; j < goldens.numLabels; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(a[i * goldens.numLabels + j]! - c.logits[j]!));
        maxAbs = Math.max(maxAbs, Math.abs(c.logits[j]!));
      }
    }
    t.log(`${cases.length} pairs: max |logit| ${maxAbs.toFixed(4)}, max |${dtype} - PyTorch fp32| ${maxDiff.toExponential(2)}`);
    t.true(maxDiff > 0, `${dtype} really ran`);
    t.true(maxDiff < tolerance * maxAbs, `max |diff| ${maxDiff} against max |logit| ${maxAbs}`);
    atLoad.dispose();
    fromFile.dispose();
  });
}

test('tiny-xlm-roberta: rank orders documents by the golden logits (sigmoid scores)', async (t) => {
  if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
  const goldens = loadGoldens('tiny-xlm-roberta');
  const cases = goldens.cases.filter((c) => c.name.startsWith('trec ') && c.maxLength === 512).slice(0, 8);
  const query = resolveText(cases[0]!.query);
  const same = cases.filter((c) => resolveText(c.query) === query);
  t.true(same.length >= 2);
  const model = CrossEncoder.load(join(fixturesDir, 'tiny-xlm-roberta'));
  const ranked = await model.rank(query, same.map((c) => resolveText(c.passage)));
  const expected = same
    .map((c, index) => ({ index, score: 1 / (1 + Math.exp(-c.logits[0]!)) }))
    .sort((x, y) => y.score - x.score);
  t.deepEqual(ranked.map((r) => r.index), expected.map((e) => e.index));
  for (const r of ranked) t.true(Math.abs(r.score - expected.find((e) => e.index === r.index)!.score) < FP32_LOGIT_TOLERANCE);
  model.dispose();
});

test('tiny-modernbert: config, [CLS] A [SEP] B [SEP], no token types, 512 positions from 0', (t) => {
  const model = CrossEncoder.load(join(fixturesDir, 'tiny-modernbert'));
  t.is(model.config.modelType, 'modernbert');
  t.is(model.config.maxLength, 512);
  t.throws(() => CrossEncoder.load(join(fixturesDir, 'tiny-modernbert'), { maxLength: 513 }), { instanceOf: RangeError, message: /maxLength 513 exceeds/ });
  const ids = Array.from(model.tokenize([['a', 'b']]).ids);
  // [CLS] is 1 and [SEP] 2 in the fixture's vocabulary.
  t.deepEqual([ids[0], ids.at(-1)], [1, 2]);
  t.is(ids.filter((id) => id === 2).length, 2);
  model.dispose();
});
