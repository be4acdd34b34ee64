/** Bad model folders and bad input get clear errors that name what is wrong, and never crash. */
import { readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder, DisposedError, ModelLoadError } from '../lib/index.js';
import { tinyDir } from './helpers/fixtures.js';
import { convertF16, copyModel, encodeSafetensors, readSafetensors, writeSafetensors } from './helpers/safetensors.js';

function loadError(t: import('ava').ExecutionContext, dir: string, pattern: RegExp): ModelLoadError {
  const error = t.throws(() => CrossEncoder.load(dir), { instanceOf: ModelLoadError });
  t.regex(error!.message, pattern);
  t.is(error!.code, 'CROSSRANK_MODEL');
  return error as ModelLoadError;
}

function editConfig(dir: string, edit: (config: Record<string, unknown>) => void): void {
  const path = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(config);
  writeFileSync(path, JSON.stringify(config));
}

test('a path that does not exist', (t) => {
  loadError(t, join(tinyDir, 'no-such-model'), /no-such-model.*does not exist/);
});

test('a file instead of a folder', (t) => {
  loadError(t, join(tinyDir, 'config.json'), /is not a folder/);
});

test('a folder without config.json', (t) => {
  const dir = copyModel(tinyDir, ['config.json']);
  loadError(t, dir, /config\.json/);
});

test('config.json that is not JSON', (t) => {
  const dir = copyModel(tinyDir);
  writeFileSync(join(dir, 'config.json'), '{"model_type": "bert",');
  loadError(t, dir, /config\.json/);
});

test('an unsupported model_type names it and what is supported', (t) => {
  const dir = copyModel(tinyDir);
  editConfig(dir, (c) => {
    c['model_type'] = 'roberta';
  });
  loadError(t, dir, /config\.json.*roberta.*bert/s);
});

test('a config field of the wrong type is named', (t) => {
  const dir = copyModel(tinyDir);
  editConfig(dir, (c) => {
    c['num_hidden_layers'] = 'two';
  });
  loadError(t, dir, /config\.json.*num_hidden_layers/);
});

test('a folder without model.safetensors', (t) => {
  const dir = copyModel(tinyDir, ['model.safetensors']);
  loadError(t, dir, /model\.safetensors/);
});

test('a truncated safetensors file', (t) => {
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  truncateSync(path, Math.floor(statSync(path).size / 2));
  loadError(t, dir, /model\.safetensors/);
});

test('a safetensors file shorter than its own header length', (t) => {
  const dir = copyModel(tinyDir);
  writeFileSync(join(dir, 'model.safetensors'), Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0x7b]));
  loadError(t, dir, /model\.safetensors/);
});

test('a safetensors file with a corrupt header', (t) => {
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  const bytes = readFileSync(path);
  bytes.write('#', 8 + 10, 'latin1');
  writeFileSync(path, bytes);
  loadError(t, dir, /model\.safetensors/);
});

test('tensor offsets outside the file name the tensor', (t) => {
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  const file = readSafetensors(path);
  const name = 'bert.encoder.layer.1.output.dense.weight';
  const entry = file.tensors[name]!;
  entry.data_offsets = [file.data.length - 8, file.data.length - 8 + (entry.data_offsets[1] - entry.data_offsets[0])];
  writeSafetensors(path, file);
  loadError(t, dir, new RegExp(`model\\.safetensors.*${name.replaceAll('.', '\\.')}`));
});

test('an unknown dtype names the tensor and the dtype', (t) => {
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  const file = readSafetensors(path);
  file.tensors['bert.pooler.dense.bias']!.dtype = 'F17';
  writeSafetensors(path, file);
  loadError(t, dir, /bert\.pooler\.dense\.bias.*F17|F17.*bert\.pooler\.dense\.bias/);
});

test('an integer dtype where weights are needed is refused', (t) => {
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  const file = readSafetensors(path);
  file.tensors['classifier.bias']!.dtype = 'I16';
  writeSafetensors(path, file);
  loadError(t, dir, /classifier\.bias.*I16|I16.*classifier\.bias/);
});

test('shapes that disagree with config.json name the tensor', (t) => {
  const dir = copyModel(tinyDir);
  editConfig(dir, (c) => {
    c['intermediate_size'] = 64;
  });
  loadError(t, dir, /intermediate/);
});

test('a missing classifier names the tensor', (t) => {
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  const file = readSafetensors(path);
  delete file.tensors['classifier.weight'];
  writeSafetensors(path, file);
  loadError(t, dir, /classifier\.weight/);
});

test('a header that is not an object of tensors', (t) => {
  const dir = copyModel(tinyDir);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors([1, 2, 3], Buffer.alloc(0)));
  loadError(t, dir, /model\.safetensors/);
});

test('missing tokenizer files name both files looked for', (t) => {
  const dir = copyModel(tinyDir, ['vocab.txt', 'tokenizer.json']);
  loadError(t, dir, /tokenizer\.json.*vocab\.txt|vocab\.txt.*tokenizer\.json/s);
});

test('load options are checked', (t) => {
  t.throws(() => CrossEncoder.load(tinyDir, { threads: 0 }), { instanceOf: RangeError, message: /threads/ });
  t.throws(() => CrossEncoder.load(tinyDir, { threads: 1.5 }), { instanceOf: TypeError, message: /threads/ });
  t.throws(() => CrossEncoder.load(tinyDir, { maxLength: 100_000 }), {
    instanceOf: RangeError,
    message: /maxLength.*max_position_embeddings/,
  });
  t.throws(() => CrossEncoder.load(''), { instanceOf: TypeError });
});

test('F32 and BF16 copies of the F16 tiny model give the same logits', async (t) => {
  const pairs = [
    ['what is a cross encoder', 'a model that reads both texts together'],
    ['naïve café', 'Crème brûlée 東京 🙂'],
  ] as const;
  const base = CrossEncoder.load(tinyDir);
  t.is(base.config.weightsDtype, 'F16');
  const expected = await base.predict(pairs, { activation: 'none' });
  base.dispose();
  for (const dtype of ['F32', 'BF16'] as const) {
    const dir = copyModel(tinyDir);
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, convertF16(readSafetensors(path), dtype));
    const model = CrossEncoder.load(dir);
    t.is(model.config.weightsDtype, dtype);
    t.deepEqual(await model.predict(pairs, { activation: 'none' }), expected, dtype);
    model.dispose();
    rmSync(dir, { recursive: true });
  }
});

test('pairs that are not an array of string pairs are named', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const bad: [unknown, RegExp][] = [
    ['query', /pairs must be an array/],
    [null, /pairs must be an array/],
    [[['a', 'b'], ['c']], /pairs\[1\]/],
    [[['a', 'b', 'c']], /pairs\[0\]/],
    [[[1, 'b']], /pairs\[0\]\[0\] must be a string/],
    [[['a', undefined]], /pairs\[0\]\[1\] must be a string/],
    [['ab'], /pairs\[0\]/],
  ];
  for (const [pairs, message] of bad) {
    await t.throwsAsync(model.predict(pairs as never), { instanceOf: TypeError, message });
    t.throws(() => model.predictSync(pairs as never), { instanceOf: TypeError, message });
  }
  await t.throwsAsync(model.rank(42 as never, ['a']), { instanceOf: TypeError, message: /query/ });
  await t.throwsAsync(model.rank('q', ['a', 7] as never), { instanceOf: TypeError, message: /documents\[1\]/ });
  model.dispose();
});

test('predict options are checked', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const pairs = [['a', 'b']] as const;
  await t.throwsAsync(model.predict(pairs, { activation: 'relu' as never }), { instanceOf: RangeError, message: /activation/ });
  await t.throwsAsync(model.predict(pairs, { truncation: 'only_first' as never }), { instanceOf: RangeError, message: /truncation/ });
  await t.throwsAsync(model.predict(pairs, { maxBatchTokens: 0 }), { instanceOf: RangeError, message: /maxBatchTokens/ });
  await t.throwsAsync(model.predict(pairs, { onProgress: 'yes' as never }), { instanceOf: TypeError, message: /onProgress/ });
  await t.throwsAsync(model.predict(pairs, null as never), { instanceOf: TypeError, message: /options/ });
  model.dispose();
});

test('only_second with a query longer than maxLength says so', async (t) => {
  const model = CrossEncoder.load(tinyDir, { maxLength: 16 });
  const longQuery = 'word '.repeat(40);
  await t.throwsAsync(model.predict([[longQuery, 'passage']], { truncation: 'only_second' }), {
    message: /longest_first/,
  });
  // longest_first trims the query instead and answers.
  const scores = await model.predict([[longQuery, 'passage']]);
  t.true(scores.every(Number.isFinite));
  model.dispose();
});

test('an empty array returns an empty result', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  t.deepEqual(await model.predict([]), new Float32Array(0));
  t.deepEqual(model.predictSync([]), new Float32Array(0));
  model.dispose();
});

test('empty strings are scored', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const scores = await model.predict([
    ['', ''],
    ['query', ''],
    ['', 'passage'],
    ['   ', '\t\n'],
  ]);
  t.is(scores.length, 8);
  t.true(scores.every(Number.isFinite));
  model.dispose();
});

test('a 1 MB passage is truncated and answered like its first part', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const sentence = 'The quick brown fox jumps over the lazy dog near the riverbank. ';
  const huge = sentence.repeat(Math.ceil((1 << 20) / sentence.length));
  t.true(huge.length >= 1 << 20);
  const head = huge.slice(0, 20_000); // already far over 512 tokens
  const [full, truncated] = [await model.predict([['fox', huge]]), await model.predict([['fox', head]])];
  t.deepEqual(full, truncated);
  const encoded = model.tokenize([['fox', huge]]);
  t.is(encoded.lengths[0], model.config.maxLength);
  model.dispose();
});

test('a disposed model throws a clear error from every method', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  model.dispose();
  model.dispose(); // idempotent
  t.true(model.disposed);
  await t.throwsAsync(model.predict([['a', 'b']]), { instanceOf: DisposedError, message: /disposed/ });
  t.throws(() => model.predictSync([['a', 'b']]), { instanceOf: DisposedError });
  await t.throwsAsync(model.rank('a', ['b']), { instanceOf: DisposedError });
  t.throws(() => model.tokenize([['a', 'b']]), { instanceOf: DisposedError });
});

test('dispose during a predict rejects that predict cleanly and frees the model', async (t) => {
  const model = CrossEncoder.load(tinyDir);
  const pairs = Array.from({ length: 64 }, (_, i) => ['query', `passage number ${i} `.repeat(i + 1)] as const);
  const pending = model.predict(pairs, { maxBatchTokens: 64 });
  model.dispose();
  await t.throwsAsync(pending, { instanceOf: DisposedError });
});
