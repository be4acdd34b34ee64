/**
 * int8: loading with dtype 'int8', pre-quantised folders written by quantizeModel / `crossrank
 * quantize`, and clear refusals of bad int8 files. On the tiny two-label model (hidden 36: every
 * activation row has a short last quantisation block). Ranking quality is in int8-quality.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import test from 'ava';

import { CrossEncoder, cpuInfo, ModelLoadError, quantizeModel } from '../lib/index.js';
import { repoRoot, tinyDir } from './helpers/fixtures.js';
import { copyModel, readSafetensors, writeSafetensors } from './helpers/safetensors.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');

const pairs: [string, string][] = [
  ['how do rerankers work', 'A reranker reads the query and the passage together and outputs a score.'],
  ['how do rerankers work', 'Bananas are rich in potassium.'],
  ['what is the capital of france', 'Paris is the capital and most populous city of France.'],
  ['a', 'b'],
];

const LINEARS = ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense'];

function quantizedTiny(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'crossrank-int8-')), 'tiny-int8');
  quantizeModel(tinyDir, out);
  return out;
}

function loadError(t: import('ava').ExecutionContext, dir: string, pattern: RegExp, options = {}): void {
  const error = t.throws(() => CrossEncoder.load(dir, options), { instanceOf: ModelLoadError });
  t.regex(error!.message, pattern);
}

test("dtype 'int8' runs int8 and stays close to fp32", (t) => {
  const fp32 = CrossEncoder.load(tinyDir, { threads: 2 });
  const int8 = CrossEncoder.load(tinyDir, { threads: 2, dtype: 'int8' });
  t.is(fp32.config.dtype, 'fp32');
  t.is(int8.config.dtype, 'int8');
  const a = fp32.predictSync(pairs, { activation: 'none' });
  const b = int8.predictSync(pairs, { activation: 'none' });
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
  }
  t.log(`tiny model: max |logit| ${maxAbs.toFixed(4)}, max |int8 - fp32| ${maxDiff.toExponential(2)}`);
  // Measured 3.2e-2 against logits up to 0.86 (a random 36-wide model); an error of the scheme (a wrong scale, a sign) is
  // of the size of the logits themselves.
  t.true(maxDiff < 0.1 * maxAbs, `max |diff| ${maxDiff} against max |logit| ${maxAbs}`);
  t.notDeepEqual(a, b); // int8 really ran
  fp32.dispose();
  int8.dispose();
});

test('a pre-quantised folder loads without the fp32 weights and computes exactly what load-time quantisation does', (t) => {
  const out = quantizedTiny();
  const file = readSafetensors(join(out, 'model.safetensors'));
  for (let layer = 0; layer < 2; layer++) {
    for (const linear of LINEARS) {
      const name = `bert.encoder.layer.${layer}.${linear}.weight`;
      t.is(file.tensors[name]?.dtype, 'I8', name);
      t.is(file.tensors[`${name}_scale`]?.dtype, 'F32', `${name}_scale`);
      t.deepEqual(file.tensors[`${name}_scale`]?.shape, [file.tensors[name]!.shape[0]!]);
    }
  }
  t.is(file.tensors['bert.embeddings.word_embeddings.weight']?.dtype, 'I8');
  t.is(file.tensors['classifier.weight']?.dtype, 'F16'); // the head is copied as stored
  const sourceBytes = statSync(join(tinyDir, 'model.safetensors')).size;
  const quantizedBytes = statSync(join(out, 'model.safetensors')).size;
  t.log(`tiny: ${sourceBytes} bytes (F16) -> ${quantizedBytes} bytes (int8)`);
  t.true(quantizedBytes < 0.6 * sourceBytes);

  const fromFile = CrossEncoder.load(out, { threads: 2 });
  t.is(fromFile.config.dtype, 'int8');
  const atLoad = CrossEncoder.load(tinyDir, { threads: 2, dtype: 'int8' });
  t.deepEqual(fromFile.predictSync(pairs, { activation: 'none' }), atLoad.predictSync(pairs, { activation: 'none' }));
  fromFile.dispose();
  atLoad.dispose();
});

test("a pre-quantised folder is refused with dtype 'fp32'", (t) => {
  loadError(t, quantizedTiny(), /holds int8 weights.*load it with dtype 'int8'/, { dtype: 'fp32' });
});

/** A copy of the quantised tiny model with its header (and data) edited. */
function corrupted(edit: (file: ReturnType<typeof readSafetensors>) => void): string {
  const dir = copyModel(quantizedTiny());
  const path = join(dir, 'model.safetensors');
  const file = readSafetensors(path);
  file.data = Buffer.from(file.data); // writable copy
  edit(file);
  writeSafetensors(path, file);
  return dir;
}

const QUERY = 'bert.encoder.layer.1.attention.self.query.weight';

test('int8 scales of the wrong dtype are refused, naming the tensor', (t) => {
  // I32 has F32's size, so only the dtype check can catch it.
  const dir = corrupted((f) => {
    f.tensors[`${QUERY}_scale`]!.dtype = 'I32';
  });
  loadError(t, dir, /query\.weight_scale' has dtype I32; the scales of int8 weights must be F32/);
});

test('int8 scales of the wrong shape are refused', (t) => {
  const dir = corrupted((f) => {
    f.tensors[`${QUERY}_scale`]!.shape = [18, 2];
  });
  loadError(t, dir, /query\.weight_scale' has shape \[18, 2\], expected \[36\]/);
});

test('int8 weights without their scales are refused', (t) => {
  const dir = corrupted((f) => {
    f.tensors[`${QUERY}_scales`] = f.tensors[`${QUERY}_scale`]!;
    delete f.tensors[`${QUERY}_scale`];
  });
  loadError(t, dir, /query\.weight_scale' is missing/);
});

test('int8 weights of the wrong shape are refused', (t) => {
  const dir = corrupted((f) => {
    f.tensors[QUERY]!.shape = [72, 18];
  });
  loadError(t, dir, /query\.weight' has shape \[72, 18\], expected \[36, 36\]/);
});

test('an int8 weight of -128 is refused (the kernels are exact only in [-127, 127])', (t) => {
  const dir = corrupted((f) => {
    f.data.writeInt8(-128, f.tensors[QUERY]!.data_offsets[0] + 5);
  });
  loadError(t, dir, /query\.weight' holds -128 at element 5/);
});

test('a negative or non-finite scale is refused', (t) => {
  const dir = corrupted((f) => {
    f.data.writeFloatLE(-1, f.tensors[`${QUERY}_scale`]!.data_offsets[0] + 4 * 3);
  });
  loadError(t, dir, /query\.weight_scale' holds -1\.0+ at row 3/);
});

test('the dtype option is checked', (t) => {
  t.throws(() => CrossEncoder.load(tinyDir, { dtype: 'int4' as 'int8' }), { instanceOf: RangeError, message: /options\.dtype must be 'fp32', 'int8' or 'bf16', got "int4"/ });
  t.throws(() => CrossEncoder.load(tinyDir, { dtype: 8 as unknown as 'int8' }), { instanceOf: TypeError, message: /options\.dtype/ });
});

test('quantizeModel refuses to write over its source and names a missing folder', (t) => {
  t.throws(() => quantizeModel(tinyDir, tinyDir), { instanceOf: RangeError, message: /outDir must differ/ });
  t.throws(() => quantizeModel(join(tinyDir, 'nope'), join(tmpdir(), 'crossrank-never')), { instanceOf: ModelLoadError, message: /nope does not exist/ });
});

test('quantizeModel names a tensor it cannot quantise', (t) => {
  // An extra layer beyond config.json, which loading ignores, in a dtype that cannot be quantised.
  const dir = copyModel(tinyDir);
  const path = join(dir, 'model.safetensors');
  const file = readSafetensors(path);
  const end = file.data.length;
  file.tensors['bert.encoder.layer.7.output.dense.weight'] = { dtype: 'I32', shape: [2, 2], data_offsets: [end, end + 16] };
  file.data = Buffer.concat([file.data, Buffer.alloc(16)]);
  writeSafetensors(path, file);
  t.throws(() => quantizeModel(dir, join(dir, 'out')), {
    instanceOf: ModelLoadError,
    message: /layer\.7\.output\.dense\.weight' \(I32 \[2, 2\]\) is not an F32, F16 or BF16 matrix/,
  });
});

test('crossrank quantize writes a folder that loads as int8', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'crossrank-cli-int8-')), 'out');
  const { stdout } = await run('node', [cli, 'quantize', tinyDir, out]);
  t.regex(stdout, /wrote the int8 model to/);
  const model = CrossEncoder.load(out);
  t.is(model.config.dtype, 'int8');
  model.dispose();
  const usage = await run('node', [cli, 'quantize', tinyDir]).catch((error: { code: number; stderr: string }) => error);
  t.is((usage as { code: number }).code, 2);
  t.regex((usage as { stderr: string }).stderr, /quantize needs MODEL \(a folder or hub id\) and OUT_DIR/);
});

test('the AVX-512 VNNI and AVX2 int8 kernels give bit-identical logits', async (t) => {
  if (!cpuInfo().available.includes('avx512vnni')) {
    t.log(`not run: this CPU lacks AVX-512 VNNI+VL+BW (available: ${cpuInfo().available.join(', ')})`);
    t.pass();
    return;
  }
  // The kernel table is chosen once per process: one child per ISA.
  const script = `
    import { CrossEncoder, cpuInfo } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'lib', 'index.js')).href)};
    const model = CrossEncoder.load(${JSON.stringify(tinyDir)}, { threads: 2, dtype: 'int8' });
    const logits = model.predictSync(${JSON.stringify(pairs)}, { activation: 'none' });
    process.stdout.write(JSON.stringify({ qgemm: cpuInfo().kernels.qgemm, bytes: Buffer.from(Float32Array.from(logits).buffer).toString('hex') }));
  `;
  const logits = async (isa?: string) => {
    const env = { ...process.env };
    delete env['CROSSRANK_ISA'];
    if (isa) env['CROSSRANK_ISA'] = isa;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env });
    return JSON.parse(stdout) as { qgemm: string; bytes: string };
  };
  const [vnni, avx2] = await Promise.all([logits(), logits('avx2')]);
  t.is(vnni.qgemm, 'qs8_gemm_8x16__avx512vnni');
  t.is(avx2.qgemm, 'qs8_gemm_4x16__avx2');
  t.is(vnni.bytes, avx2.bytes);
});
