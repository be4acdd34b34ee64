/**
 * The same parity checks as parity.test.ts with the scalar reference kernels
 * forced through CROSSRANK_ISA, so the fallback path every CPU can take is
 * held to the same tolerances. Each ava test file runs in its own process, so
 * the variable is set before the addon is first loaded.
 */
import { join } from 'node:path';

import test from 'ava';

import { fixturesDir, minilmAvailable, minilmDir, sharedDataAvailable, tinyDir } from './helpers/fixtures.js';
import { loadGoldens } from './helpers/goldens.js';
import { checkParity } from './helpers/parity.js';
import { MINILM_LOGIT_TOL, TINY_LOGIT_TOL } from './helpers/tolerances.js';

process.env['CROSSRANK_ISA'] = 'ref';
const crossrank = await import('../lib/index.js');

test('CROSSRANK_ISA=ref forces the reference kernels', (t) => {
  const info = crossrank.cpuInfo();
  t.is(info.isa, 'ref');
  t.regex(info.kernels['gemm'] ?? '', /ref/);
});

test(`reference kernels, tiny random model: logits within ${TINY_LOGIT_TOL.toExponential()} of PyTorch`, async (t) => {
  if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
  await checkParity(t, crossrank, tinyDir, loadGoldens('tiny'), TINY_LOGIT_TOL);
});

test(`reference kernels, all-MiniLM-L6-v2 cross-encoder: logits within ${MINILM_LOGIT_TOL.toExponential()} of PyTorch`, async (t) => {
  if (!minilmAvailable() || !sharedDataAvailable()) return t.pass('fixture missing outside CI');
  const result = await checkParity(t, crossrank, minilmDir, loadGoldens('minilm'), MINILM_LOGIT_TOL);
  t.true(result.cases >= 300);
});

for (const name of ['tiny-modernbert', 'tiny-modernbert-mean'] as const) {
  test(`reference kernels, ${name}: logits within 1e-5 of PyTorch (rotary, sliding window, gated GELU)`, async (t) => {
    if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
    const result = await checkParity(t, crossrank, join(fixturesDir, name), loadGoldens(name), 1e-5);
    t.true(result.cases >= 300);
  });
}
