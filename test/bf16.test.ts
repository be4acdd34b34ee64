/**
 * bf16: loading with dtype 'bf16', folders written by `crossrank quantize --dtype bf16`, and the
 * refusal on CPUs without a bf16 kernel. On the tiny two-label model. Where this CPU has no bf16
 * kernel the tests that run bf16 in this process say "NOT RUN" and are skipped, never passed; the
 * reference kernel (CROSSRANK_ISA=ref, in a child process) runs the plumbing everywhere.
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
import { readSafetensors } from './helpers/safetensors.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');

const pairs: [string, string][] = [
  ['how do rerankers work', 'A reranker reads the query and the passage together and outputs a score.'],
  ['how do rerankers work', 'Bananas are rich in potassium.'],
  ['what is the capital of france', 'Paris is the capital and most populous city of France.'],
  ['a', 'b'],
];

const LINEARS = ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense'];

const bgemm = cpuInfo().kernels['bgemm'] ?? '';
/** Tests that run bf16 in this process: skipped, saying so, where the active kernels have no bf16 GEMM. */
const bf16Test = bgemm === '' ? test.skip : test;
if (bgemm === '') console.warn(`NOT RUN: bf16 in-process tests: the active kernels (${cpuInfo().isa}) have no bf16 GEMM`);

function bf16Tiny(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'crossrank-bf16-')), 'tiny-bf16');
  quantizeModel(tinyDir, out, { dtype: 'bf16' });
  return out;
}

/** Logits of the tiny model in a child process with CROSSRANK_ISA set, as hex float32 bytes. */
async function childLogits(isa: string, dir: string, dtype: string, env: Record<string, string> = {}): Promise<{ bgemm: string; dtype: string; hex: string }> {
  const script = `
    import { CrossEncoder, cpuInfo } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'lib', 'index.js')).href)};
    const model = CrossEncoder.load(${JSON.stringify(dir)}, { threads: 2, dtype: ${JSON.stringify(dtype)} });
    const logits = model.predictSync(${JSON.stringify(pairs)}, { activation: 'none' });
    process.stdout.write(JSON.stringify({ bgemm: cpuInfo().kernels.bgemm, dtype: model.config.dtype, hex: Buffer.from(Float32Array.from(logits).buffer).toString('hex') }));
  `;
  const { stdout } = await run('node', ['--input-type=module', '-e', script], { env: { ...process.env, CROSSRANK_ISA: isa, ...env } });
  return JSON.parse(stdout) as { bgemm: string; dtype: string; hex: string };
}

bf16Test("dtype 'bf16' runs bf16 and stays close to fp32", (t) => {
  const fp32 = CrossEncoder.load(tinyDir, { threads: 2 });
  const bf16 = CrossEncoder.load(tinyDir, { threads: 2, dtype: 'bf16' });
  t.is(bf16.config.dtype, 'bf16');
  const a = fp32.predictSync(pairs, { activation: 'none' });
  const b = bf16.predictSync(pairs, { activation: 'none' });
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
  }
  t.log(`tiny model (${bgemm}): max |logit| ${maxAbs.toFixed(4)}, max |bf16 - fp32| ${maxDiff.toExponential(2)}`);
  // Each GEMM input keeps 8 significant bits (relative error 2^-9): a few 1e-3 of the logits over two
  // layers; a wrong pairing or a truncating rounding is of the size of the logits themselves.
  t.true(maxDiff < 0.02 * maxAbs, `max |diff| ${maxDiff} against max |logit| ${maxAbs}`);
  t.notDeepEqual(a, b); // bf16 really ran
  fp32.dispose();
  bf16.dispose();
});

bf16Test('the bf16 kernel gives the reference bf16 GEMM\'s logits to float rounding of the other ops', async (t) => {
  // The reference table runs bf16 with the same rounding and summation order (the kernel tests
  // compare the GEMMs bit for bit; AMX's tdpbf16ps sums in an order of its own, which its own
  // reference follows, so there the GEMMs differ in the last bits too); the other ops (LayerNorm, attention, GELU) differ in the last
  // bits between tables, as in fp32.
  const native = await childLogits(cpuInfo().isa, tinyDir, 'bf16');
  const ref = await childLogits('ref', tinyDir, 'bf16');
  t.is(native.bgemm, bgemm);
  t.is(ref.bgemm, 'bf16_gemm_1x1__ref');
  const floats = (hex: string): Float32Array => new Float32Array(Uint8Array.from(Buffer.from(hex, 'hex')).buffer);
  const x = floats(native.hex);
  const y = floats(ref.hex);
  t.is(x.length, pairs.length * 2);
  let maxDiff = 0;
  for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i]! - y[i]!));
  t.log(`max |${bgemm} - ref| ${maxDiff.toExponential(2)}`);
  t.true(maxDiff < 1e-4, `max |diff| ${maxDiff}`);
});

const attention = cpuInfo().kernels['attentionBf16'] ?? '';
if (attention === '') console.warn(`NOT RUN: bf16 attention test: the active kernels (${cpuInfo().isa}) have no attention on bf16`);
(attention === '' ? test.skip : test)('a bf16 model runs attention on bf16 with CROSSRANK_BF16_ATTENTION=1 where the kernels have it, fp32 attention by default', async (t) => {
  const floats = (hex: string): Float32Array => new Float32Array(Uint8Array.from(Buffer.from(hex, 'hex')).buffer);
  const on = floats((await childLogits(cpuInfo().isa, tinyDir, 'bf16', { CROSSRANK_BF16_ATTENTION: '1' })).hex);
  const off = floats((await childLogits(cpuInfo().isa, tinyDir, 'bf16')).hex);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < on.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(on[i]! - off[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(off[i]!));
  }
  t.log(`attention on bf16 (${attention}) against fp32 attention in the bf16 model: max |diff| ${maxDiff.toExponential(2)}`);
  t.true(maxDiff > 0, 'the switch changed nothing: attention on bf16 did not run');
  t.true(maxDiff < 0.02 * maxAbs, `max |diff| ${maxDiff} against max |logit| ${maxAbs}`);
});

test("where the kernels have no bf16 GEMM, dtype 'bf16' is refused naming the CPU requirement", async (t) => {
  // The AVX2 table has no bf16 GEMM on any x86 CPU; on Arm, NEON has none yet.
  const isa = process.arch === 'x64' ? 'avx2' : 'neon';
  const error = await childLogits(isa, tinyDir, 'bf16').catch((e: { stderr: string }) => e);
  t.false('hex' in error, 'bf16 ran on a table without a bf16 GEMM');
  t.regex((error as { stderr: string }).stderr, /dtype 'bf16' needs a bf16 GEMM.*have none.*AVX512-BF16.*use dtype 'int8' or 'fp32'/);
});

test('crossrank quantize --dtype bf16 writes BF16 linears with metadata; the reference loads it as bf16 by default', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'crossrank-cli-bf16-')), 'out');
  const { stdout } = await run('node', [cli, 'quantize', tinyDir, out, '--dtype', 'bf16']);
  t.regex(stdout, /wrote the bf16 model to/);
  const file = readSafetensors(join(out, 'model.safetensors'));
  t.is(file.metadata?.['quantization'], 'crossrank bf16: encoder linear weights');
  for (let layer = 0; layer < 2; layer++) {
    for (const linear of LINEARS) t.is(file.tensors[`bert.encoder.layer.${layer}.${linear}.weight`]?.dtype, 'BF16', linear);
  }
  t.is(file.tensors['classifier.weight']?.dtype, 'F16'); // everything else is copied as stored
  t.is(file.tensors['bert.embeddings.word_embeddings.weight']?.dtype, 'F16');
  // Stored bf16 (as stored) and rounded at load compute the same, bit for bit.
  const stored = await childLogits('ref', out, 'bf16');
  const asStored = await run('node', ['--input-type=module', '-e', `
    import { CrossEncoder } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'lib', 'index.js')).href)};
    const model = CrossEncoder.load(${JSON.stringify(out)});
    process.stdout.write(model.config.dtype);
  `], { env: { ...process.env, CROSSRANK_ISA: 'ref' } });
  t.is(asStored.stdout, 'bf16');
  const atLoad = await childLogits('ref', tinyDir, 'bf16');
  t.is(stored.dtype, 'bf16');
  t.is(stored.hex, atLoad.hex);
  // fp32 reads the bf16 file exactly; int8 refuses it.
  const fp32 = CrossEncoder.load(out, { dtype: 'fp32' });
  t.is(fp32.config.dtype, 'fp32');
  fp32.dispose();
  t.throws(() => CrossEncoder.load(out, { dtype: 'int8' }), { instanceOf: ModelLoadError, message: /holds bf16 weights.*load it with dtype 'bf16' or 'fp32'/ });
  t.true(statSync(join(out, 'model.safetensors')).size > 0);
});

test('the dtype options name bf16', async (t) => {
  t.throws(() => CrossEncoder.load(tinyDir, { dtype: 'fp16' as 'bf16' }), { instanceOf: RangeError, message: /'fp32', 'int8' or 'bf16', got "fp16"/ });
  t.throws(() => quantizeModel(tinyDir, join(tmpdir(), 'crossrank-never'), { dtype: 'fp16' as 'bf16' }), { instanceOf: RangeError, message: /'int8' or 'bf16'/ });
  const usage = await run('node', [cli, 'quantize', tinyDir, join(tmpdir(), 'crossrank-never'), '--dtype', 'fp16']).catch((error: { code: number; stderr: string }) => error);
  t.is((usage as { code: number }).code, 2);
  t.regex((usage as { stderr: string }).stderr, /quantize --dtype must be int8 or bf16/);
});

test('crossrank info reports the bf16 kernel and why AMX is or is not used', (t) => {
  const info = cpuInfo();
  t.is(typeof info.features['avx512Bf16'], 'boolean');
  t.is(typeof info.features['amxBf16'], 'boolean');
  t.regex(info.amx, /usable|not an AMX CPU|XCR0|arch_prctl|Linux/);
  // The bf16 kernel is there exactly when the CPU has AVX512-BF16 (and the table is not forced).
  if (process.env['CROSSRANK_ISA'] === undefined && process.arch === 'x64') t.is(bgemm !== '', info.features['avx512Bf16'] === true && info.available.includes('avx512bf16'));
  // On arm64 it is there exactly when HWCAP2 lists BF16 (bfmmla): the neon_bf16 tables.
  t.is(typeof info.features['armBf16'], 'boolean');
  t.is(typeof info.features['armI8mm'], 'boolean');
  if (process.env['CROSSRANK_ISA'] === undefined && process.arch === 'arm64') t.is(bgemm !== '', info.features['armBf16'] === true);
  t.log(`isa ${info.isa}, bgemm '${bgemm}', amx: ${info.amx}`);
});
