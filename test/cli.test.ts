/** The command line, run as a user runs it. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { minilmAvailable, minilmDir, repoRoot, tinyDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
const examples = join(repoRoot, 'examples', 'passages.txt');

// rank needs a one-label model: the all-MiniLM-L6-v2 cross-encoder fixture.
test('rank prints every example passage best first, with scores and timing', async (t) => {
  if (!minilmAvailable()) return t.pass('fixture missing outside CI');
  const { stdout } = await run('node', [cli, 'rank', '--model', minilmDir, '--query', 'how do rerankers work', '--docs', examples]);
  t.regex(stdout, /^query: how do rerankers work/);
  t.regex(stdout, /ranked \d+ documents in [\d.]+ ms/);
  const scores = [...stdout.matchAll(/^\s*\d+\. (-?\d+\.\d+)/gm)].map((m) => Number(m[1]));
  t.true(scores.length >= 5);
  t.deepEqual(scores, [...scores].sort((a, b) => b - a));
});

test('rank --json --top-k returns the top results as JSON', async (t) => {
  if (!minilmAvailable()) return t.pass('fixture missing outside CI');
  const { stdout } = await run('node', [
    cli, 'rank', '--model', minilmDir, '--query', 'how do rerankers work', '--docs', examples, '--top-k', '3', '--json',
  ]);
  const output = JSON.parse(stdout) as { results: { index: number; score: number; document: string }[] };
  t.is(output.results.length, 3);
  for (const r of output.results) t.is(typeof r.document, 'string');
});

test('info prints the CPU features and the kernels chosen', async (t) => {
  const { stdout } = await run('node', [cli, 'info']);
  const info = JSON.parse(stdout) as { isa: string; kernels: Record<string, string>; features: Record<string, boolean> };
  t.is(typeof info.isa, 'string');
  t.is(typeof info.kernels['gemm'], 'string');
  t.is(typeof info.features['avx2'], 'boolean');
});

test('CROSSRANK_ISA chooses between the AVX-512 and the AVX2 kernels; info names them', async (t) => {
  const info = async (isa?: string) => {
    const env = { ...process.env };
    delete env['CROSSRANK_ISA'];
    if (isa) env['CROSSRANK_ISA'] = isa;
    const { stdout } = await run('node', [cli, 'info'], { env });
    return JSON.parse(stdout) as { isa: string; features: Record<string, boolean>; kernels: Record<string, string>; available: string[] };
  };
  const best = await info();
  if (best.features['neon']) {
    // Not an x86 CPU: the NEON family of tables is chosen, and no x86 table is listed.
    t.regex(best.isa, /^neon/);
    t.false(best.available.some((isa) => isa.startsWith('avx')));
    return;
  }
  // Each table this CPU can run is checked; the log says which could not be.
  const absent = ['avx2_fma', 'avx512f', 'avx512vnni'].filter((isa) => !best.available.includes(isa));
  if (absent.length > 0) t.log(`not checked, this CPU lacks: ${absent.join(', ')} (available: ${best.available.join(', ')})`);
  t.true(best.available.includes('avx2_fma'), 'every x86 CPU crossrank runs on has AVX2+FMA');
  const avx2 = await info('avx2');
  t.is(avx2.isa, 'avx2_fma');
  t.is(avx2.kernels['qgemm'], 'qs8_gemm_4x16__avx2');
  t.is(avx2.kernels['gemm'], 'f32_gemm_6x16__avx2_fma');
  if (best.available.includes('avx512f')) {
    // avx512: the AVX-512 fp32 kernels, the AVX2 int8 GEMM.
    const avx512 = await info('avx512');
    t.is(avx512.isa, 'avx512f');
    t.is(avx512.kernels['qgemm'], 'qs8_gemm_4x16__avx2');
    t.is(avx512.kernels['gemm'], 'f32_gemm_8x32__avx512f');
  }
  if (best.available.includes('amx')) {
    // amx is the avx512bf16 table with the tile GEMMs for int8 and bf16 weights.
    t.is(best.isa, 'amx');
    t.is(best.kernels['qgemm'], 'qs8_gemm_16x16__amx');
    t.is(best.kernels['bgemm'], 'bf16_gemm_32x32__amx');
    t.is(best.kernels['gemm'], 'f32_gemm_8x32__avx512f');
  } else if (best.available.includes('avx512vnni')) {
    // avx512bf16 is the avx512vnni table plus the bf16 GEMM.
    t.is(best.isa, best.available.includes('avx512bf16') ? 'avx512bf16' : 'avx512vnni');
    t.is(best.kernels['qgemm'], 'qs8_gemm_8x16__avx512vnni');
    t.is(best.kernels['gemm'], 'f32_gemm_8x32__avx512f');
  } else {
    t.is(best.isa, best.available[0]!);
  }
});

test('usage errors exit 2 with a message naming the flag', async (t) => {
  // --model is optional (the default hub model); --query is not.
  const error = await t.throwsAsync(run('node', [cli, 'rank', '--docs', examples]));
  t.is((error as { code?: number }).code, 2);
  t.regex((error as { stderr?: string }).stderr ?? '', /rank needs --query/);
  const noEncoder = await t.throwsAsync(run('node', [cli, 'search', '--query', 'q', '--docs', examples]));
  t.is((noEncoder as { code?: number }).code, 2);
  t.regex((noEncoder as { stderr?: string }).stderr ?? '', /search needs --encoder/);
  const missing = await t.throwsAsync(run('node', [cli, 'rank', '--model', tinyDir, '--query', 'q', '--docs', 'nope.txt']));
  t.regex((missing as { stderr?: string }).stderr ?? '', /nope\.txt/);
  const badModel = await t.throwsAsync(run('node', [cli, 'rank', '--model', '/nonexistent', '--query', 'q', '--docs', examples]));
  t.is((badModel as { code?: number }).code, 1);
  t.regex((badModel as { stderr?: string }).stderr ?? '', /\/nonexistent.*does not exist/);
});
