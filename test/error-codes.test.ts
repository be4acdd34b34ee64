/**
 * One list of error codes (native/error-codes.json) for lib/, the C++ addon
 * and the Rust tokenizer: the generated constants are current, each side
 * throws the listed code and class, and fromNative turns them into
 * crossrank's classes.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { ERROR_CLASSES, ERROR_CODES } from '../lib/error-codes.js';
import { CrossrankError, DisposedError, fromNative, ModelLoadError, NativeLoadError } from '../lib/errors.js';
import { engineAddon, tokenizerAddon } from '../lib/native.js';
import { repoRoot, tinyDir } from './helpers/fixtures.js';

const run = promisify(execFile);

const listed = (JSON.parse(readFileSync(join(repoRoot, 'native', 'error-codes.json'), 'utf8')) as {
  codes: { name: string; code: string; jsClass: string }[];
}).codes;

test('the constants of the three languages are generated from the current list', async (t) => {
  // Fails (exit 1) when lib/error-codes.ts, error_codes.h or error_codes.rs differ from what the list gives.
  await t.notThrowsAsync(run('node', [join(repoRoot, 'scripts', 'gen-error-codes.mjs'), '--check']));
  t.deepEqual(
    Object.entries(ERROR_CODES),
    listed.map((entry) => [entry.name, entry.code]),
  );
  // The C++ and Rust sides use the generated names, not string literals of their own.
  const addon = readFileSync(join(repoRoot, 'native', 'src', 'addon', 'model_wrap.cc'), 'utf8');
  const tokenizer = readFileSync(join(repoRoot, 'crates', 'tokenizer', 'src', 'error.rs'), 'utf8');
  for (const source of [addon, tokenizer]) t.notRegex(source, /"CROSSRANK_[A-Z]+"/);
});

test("lib/'s error classes carry listed codes", (t) => {
  const codes = listed.map((entry) => entry.code);
  for (const error of [new ModelLoadError('m', '/x'), new DisposedError(), new NativeLoadError('n')]) {
    t.true(error instanceof CrossrankError);
    t.true(codes.includes(error.code), error.code);
  }
});

/** A thrown native error, checked against the list's code and class. */
function thrownAs(t: import('ava').ExecutionContext, error: unknown, code: string): void {
  t.is((error as { code?: unknown }).code, code);
  const expected = ERROR_CLASSES[code as keyof typeof ERROR_CLASSES];
  t.is((error as Error).constructor.name, expected, `${code} should be a ${expected}`);
}

test('the C++ addon throws the listed codes', async (t) => {
  const { Model } = engineAddon();
  thrownAs(t, t.throws(() => new Model(join(tinyDir, 'missing'))), ERROR_CODES.model);
  const model = new Model(tinyDir, { threads: 1 });
  const lengths = Uint32Array.of(3);
  const types = new Uint8Array(3);
  thrownAs(t, t.throws(() => model.runSync(Uint32Array.of(101, 1 << 30, 102), types, lengths)), ERROR_CODES.input);
  model.dispose();
  thrownAs(t, await t.throwsAsync(model.run(Uint32Array.of(101, 7, 102), types, lengths)), ERROR_CODES.disposed);
});

test('the Rust tokenizer throws the listed codes, sync and async', async (t) => {
  const { Tokenizer } = tokenizerAddon();
  thrownAs(t, t.throws(() => Tokenizer.fromDir(join(tinyDir, 'missing'))), ERROR_CODES.model);
  const tokenizer = Tokenizer.fromDir(tinyDir);
  const longFirst = ['word '.repeat(40)];
  thrownAs(t, t.throws(() => tokenizer.tokenizePairs(longFirst, ['p'], 16, 'only_second')), ERROR_CODES.input);
  thrownAs(t, await t.throwsAsync(tokenizer.tokenizePairsAsync(longFirst, ['p'], 16, 'only_second')), ERROR_CODES.input);
  thrownAs(t, t.throws(() => tokenizer.tokenizeTexts(['a'], 1)), ERROR_CODES.input);
  thrownAs(t, await t.throwsAsync(tokenizer.tokenizeTextsAsync(['a'], 1)), ERROR_CODES.input);
});

test('fromNative gives each code its class, and leaves other errors alone', (t) => {
  const native = (code: string, message = 'dir/config.json: broken'): Error => Object.assign(new Error(message), { code });
  t.true(fromNative(native(ERROR_CODES.disposed)) instanceof DisposedError);

  const loadError = fromNative(native(ERROR_CODES.model), { modelPath: '/models/m' });
  t.true(loadError instanceof ModelLoadError);
  t.is((loadError as ModelLoadError).modelPath, '/models/m');
  t.is((loadError as Error).message, 'crossrank: dir/config.json: broken');

  const tokenizerError = fromNative(native(ERROR_CODES.model), { modelPath: '/m', context: 'cannot load the tokenizer of /m' });
  t.is((tokenizerError as Error).message, 'crossrank: cannot load the tokenizer of /m: dir/config.json: broken');

  // Without a model folder there is nothing to name: a model error stays as thrown.
  const bare = native(ERROR_CODES.model);
  t.is(fromNative(bare), bare);
  // Input errors are already RangeErrors naming the field.
  const input = Object.assign(new RangeError('ids[1] out of range'), { code: ERROR_CODES.input });
  t.is(fromNative(input, { modelPath: '/m', loading: true }), input);
  // While loading, a failure of the machine is still the load's.
  t.true(fromNative(native(ERROR_CODES.internal, 'out of memory'), { modelPath: '/m', loading: true }) instanceof ModelLoadError);
  const internal = native(ERROR_CODES.internal);
  t.is(fromNative(internal), internal);
});
