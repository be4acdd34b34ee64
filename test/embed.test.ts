/**
 * SentenceEncoder: embeddings against sentence-transformers on all-MiniLM-L6-v2
 * (normalised and not), the sentence-transformers configuration it reads, and
 * its errors. Small bi-encoder folders are made from the committed tiny model.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder, DisposedError, ModelLoadError, SentenceEncoder } from '../lib/index.js';
import { sentenceMinilmAvailable, sentenceMinilmDir, sharedDataAvailable, tinyDir } from './helpers/fixtures.js';
import { loadEmbedGoldens, maxAbsDiff, resolveText } from './helpers/goldens.js';
import { bareEncoderCopy, copyModel } from './helpers/safetensors.js';
import { CLEARLY_DIFFERENT, EMBEDDING_TOL, FLOAT_FORMULA_TOL } from './helpers/tolerances.js';

const MEAN_POOLING = { word_embedding_dimension: 36, pooling_mode_cls_token: false, pooling_mode_mean_tokens: true };
const MODULES = [
  { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
  { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
];

/** The tiny model as a sentence-transformers folder, with any of its files replaced. */
function tinySentenceFolder(
  files: { modules?: unknown; pooling?: unknown; sentenceBert?: unknown } = {},
): string {
  const dir = copyModel(tinyDir);
  const write = (name: string, value: unknown) => {
    if (value === undefined) return;
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  };
  write('modules.json', 'modules' in files ? files.modules : MODULES);
  write(join('1_Pooling', 'config.json'), 'pooling' in files ? files.pooling : MEAN_POOLING);
  write('sentence_bert_config.json', 'sentenceBert' in files ? files.sentenceBert : { max_seq_length: 32, do_lower_case: false });
  return dir;
}

/** The tiny model as a bare BertModel checkpoint: no "bert." prefix, no classifier, architectures [BertModel]. */
function tinyBareFolder(architectures: string[] | null = ['BertModel']): string {
  return bareEncoderCopy(tinyDir, 'bert.', architectures);
}

test(`all-MiniLM-L6-v2: token ids exact, embeddings within ${EMBEDDING_TOL.toExponential()} of sentence-transformers, normalised and not`, async (t) => {
  if (!sentenceMinilmAvailable() || !sharedDataAvailable()) return t.pass('fixture missing outside CI');
  const goldens = loadEmbedGoldens();
  const model = SentenceEncoder.load(sentenceMinilmDir);
  try {
    t.is(model.config.pooling, 'mean');
    t.is(model.config.poolingSource, join('1_Pooling', 'config.json'));
    t.true(model.config.normalize);
    t.is(model.config.maxLength, goldens.maxSeqLength);
    t.is(model.config.maxLength, 256);
    t.is(model.dimension, 384);
    t.is(model.hiddenSize, 384);

    const texts = goldens.cases.map((c) => resolveText(c.text));
    const encoded = model.tokenize(texts);
    let offset = 0;
    for (const [i, c] of goldens.cases.entries()) {
      const length = encoded.lengths[i]!;
      t.deepEqual(Array.from(encoded.ids.subarray(offset, offset + length)), c.ids, `ids of text ${i}`);
      offset += length;
    }
    t.true(goldens.cases.some((c) => c.ids.length === 256), 'a text is cut to max_seq_length');

    const compare = (got: Float32Array, field: 'embedding' | 'unnormalized', what: string) => {
      t.is(got.length, texts.length * 384);
      let max = 0;
      for (const [i, c] of goldens.cases.entries()) max = Math.max(max, maxAbsDiff(got.subarray(i * 384, (i + 1) * 384), c[field]));
      t.log(`${what}: max |diff| ${max.toExponential(2)} over ${texts.length} texts`);
      t.true(max <= EMBEDDING_TOL, `${what}: ${max}`);
    };
    compare(await model.embed(texts), 'embedding', 'embed (default: normalised)');
    compare(await model.embed(texts, { normalize: true }), 'embedding', 'embed normalize: true');
    compare(await model.embed(texts, { normalize: false, maxBatchTokens: 300 }), 'unnormalized', 'embed normalize: false');
    compare(model.embedSync(texts, { normalize: false }), 'unnormalized', 'embedSync normalize: false');
  } finally {
    model.dispose();
  }
});

test('a bare BertModel folder loads as a SentenceEncoder and not as a CrossEncoder, with errors saying why', async (t) => {
  const bare = tinyBareFolder();
  t.throws(() => CrossEncoder.load(bare), {
    instanceOf: ModelLoadError,
    message: /config\.json: architectures: \[BertModel\] is not a sequence-classification head.*SentenceEncoder\.load/,
  });
  const noArchitectures = tinyBareFolder(null);
  t.throws(() => CrossEncoder.load(noArchitectures), {
    instanceOf: ModelLoadError,
    message: /model\.safetensors: tensor 'classifier\.weight' is missing: a cross-encoder needs a sequence-classification head.*SentenceEncoder\.load/,
  });

  // No modules.json: mean pooling, no normalisation, as sentence-transformers does for a plain folder.
  const fromBare = SentenceEncoder.load(bare);
  const fromFull = SentenceEncoder.load(tinyDir);
  t.is(fromBare.config.pooling, 'mean');
  t.false(fromBare.config.normalize);
  t.is(fromBare.config.maxLength, 512);
  t.false(fromBare.config.hasClassifier);
  const texts = ['hello world', 'a second, longer text than the first one', ''];
  t.deepEqual(await fromBare.embed(texts), await fromFull.embed(texts));
  fromBare.dispose();
  fromFull.dispose();
  for (const dir of [bare, noArchitectures]) rmSync(dir, { recursive: true });
});

test('all-MiniLM-L6-v2 (a bare BertModel) as a CrossEncoder: a clear error', (t) => {
  if (!sentenceMinilmAvailable()) return t.pass('fixture missing outside CI');
  t.throws(() => CrossEncoder.load(sentenceMinilmDir), {
    instanceOf: ModelLoadError,
    message: /architectures: \[BertModel\] is not a sequence-classification head/,
  });
});

test('pooling, normalisation and max length come from the sentence-transformers files; options override', async (t) => {
  const dir = tinySentenceFolder();
  const model = SentenceEncoder.load(dir);
  t.is(model.config.pooling, 'mean');
  t.true(model.config.normalize);
  t.is(model.config.maxLength, 32);
  const texts = ['one text', 'another text, a little longer', 'x'];
  const normalized = await model.embed(texts);
  const raw = await model.embed(texts, { normalize: false });
  for (let i = 0; i < texts.length; i++) {
    const row = normalized.subarray(i * 36, (i + 1) * 36);
    t.true(Math.abs(Math.hypot(...row) - 1) < FLOAT_FORMULA_TOL);
    const rawRow = raw.subarray(i * 36, (i + 1) * 36);
    const norm = Math.hypot(...rawRow);
    t.true(maxAbsDiff(row, Array.from(rawRow, (v) => v / norm)) < FLOAT_FORMULA_TOL);
  }
  // A long text is cut to max_seq_length tokens.
  t.is(model.tokenize(['word '.repeat(100)]).lengths[0], 32);
  t.is(SentenceEncoder.load(dir, { maxLength: 8 }).tokenize(['word '.repeat(100)]).lengths[0], 8);
  t.throws(() => SentenceEncoder.load(dir, { maxLength: 513 }), { instanceOf: RangeError, message: /max_position_embeddings \(512\)/ });

  const cls = SentenceEncoder.load(
    tinySentenceFolder({ pooling: { pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }, modules: MODULES.slice(0, 2) }),
  );
  t.is(cls.config.pooling, 'cls');
  t.false(cls.config.normalize);
  const clsRows = await cls.embed(texts);
  t.true(maxAbsDiff(clsRows, raw) > CLEARLY_DIFFERENT, 'cls and mean pooling differ');
  model.dispose();
  cls.dispose();
});

test('unsupported or broken sentence-transformers files: ModelLoadError naming the file and field', (t) => {
  const loadError = (dir: string, message: RegExp) => t.throws(() => SentenceEncoder.load(dir), { instanceOf: ModelLoadError, message });
  const poolingFile = /1_Pooling\/config\.json: /.source;
  loadError(
    tinySentenceFolder({ pooling: { pooling_mode_cls_token: false } }),
    new RegExp(`${poolingFile}pooling_mode_mean_tokens: missing \\(no pooling mode is true`),
  );
  loadError(
    tinySentenceFolder({ pooling: { pooling_mode_mean_tokens: false, pooling_mode_max_tokens: true } }),
    new RegExp(`${poolingFile}pooling_mode_max_tokens: true is not supported; supported: pooling_mode_mean_tokens or pooling_mode_cls_token`),
  );
  loadError(
    tinySentenceFolder({ pooling: { pooling_mode_mean_tokens: true, pooling_mode_cls_token: true } }),
    /pooling_mode_cls_token: and pooling_mode_mean_tokens are both true/,
  );
  loadError(tinySentenceFolder({ pooling: { pooling_mode_mean_tokens: 'yes' } }), /pooling_mode_mean_tokens: expected true or false/);
  loadError(
    tinySentenceFolder({ pooling: { word_embedding_dimension: 384, pooling_mode_mean_tokens: true } }),
    /word_embedding_dimension: 384 differs from config\.json's hidden_size 36/,
  );
  loadError(tinySentenceFolder({ pooling: '{"pooling_mode_mean_tokens": tr' }), /1_Pooling\/config\.json: /);
  const noPoolingFile = tinySentenceFolder();
  rmSync(join(noPoolingFile, '1_Pooling'), { recursive: true });
  loadError(noPoolingFile, /1_Pooling\/config\.json: is missing/);
  loadError(
    tinySentenceFolder({
      modules: [...MODULES.slice(0, 2), { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' }],
    }),
    /modules\.json: \[2\]\.type: "sentence_transformers\.models\.Dense" is not supported here/,
  );
  loadError(tinySentenceFolder({ modules: [MODULES[0]] }), /modules\.json: has no sentence_transformers\.models\.Pooling module/);
  loadError(tinySentenceFolder({ modules: { modules: [] } }), /modules\.json: expected an array of modules/);
  loadError(tinySentenceFolder({ sentenceBert: { max_seq_length: 'long' } }), /sentence_bert_config\.json: max_seq_length: expected an integer/);
});

test('embed: argument checks, limits, abort and dispose', async (t) => {
  const model = SentenceEncoder.load(tinySentenceFolder(), { maxTextsPerCall: 3 });
  await t.throwsAsync(model.embed('text' as never), { instanceOf: TypeError, message: /texts must be an array of strings, got the string "text"/ });
  await t.throwsAsync(model.embed(['a', 3] as never), { instanceOf: TypeError, message: /texts\[1\] must be a string, got number 3/ });
  await t.throwsAsync(model.embed(['a'], { normalize: 1 } as never), { instanceOf: TypeError, message: /options\.normalize must be a boolean/ });
  await t.throwsAsync(model.embed(['a'], { maxBatchTokens: 0 }), { instanceOf: RangeError, message: /options\.maxBatchTokens/ });
  await t.throwsAsync(model.embed(['a', 'b', 'c', 'd']), {
    instanceOf: RangeError,
    message: /4 texts, over maxTextsPerCall \(3\).*maxTextsPerCall option of embed\(\) or SentenceEncoder\.load\(\)/,
  });
  t.is((await model.embed(['a', 'b', 'c', 'd'], { maxTextsPerCall: 4 })).length, 4 * 36);
  await t.throwsAsync(model.embed(['a b c d e f'], { maxTokensPerCall: 3 }), {
    instanceOf: RangeError,
    message: /over maxTokensPerCall \(3\) tokens .*in its first 1 texts/,
  });
  await t.throwsAsync(model.embed(['a'], { signal: AbortSignal.abort() }), { any: true, name: 'AbortError' });
  t.is((await model.embed([])).length, 0);
  t.throws(() => SentenceEncoder.load(''), { instanceOf: TypeError, message: /SentenceEncoder\.load\(nameOrPath\)/ });
  t.throws(() => SentenceEncoder.load(tinyDir, { threads: 0 }), { instanceOf: RangeError, message: /options\.threads/ });
  t.throws(() => SentenceEncoder.load(join(tinyDir, 'nope')), { instanceOf: ModelLoadError, message: /does not exist/ });
  model.dispose();
  model.dispose();
  t.true(model.disposed);
  await t.throwsAsync(model.embed(['a']), { instanceOf: DisposedError });
  t.throws(() => model.embedSync(['a']), { instanceOf: DisposedError });
});
