/**
 * Parity with PyTorch (transformers' BertForSequenceClassification and its fast
 * tokenizer) on the best kernels this CPU has. parity-ref.test.ts runs the
 * same checks with the scalar reference kernels forced.
 */
import test from 'ava';

import * as crossrank from '../lib/index.js';
import { minilmAvailable, minilmDir, sharedDataAvailable, tinyDir } from './helpers/fixtures.js';
import { loadGoldens } from './helpers/goldens.js';
import { checkParity } from './helpers/parity.js';
import { MINILM_LOGIT_TOL, TINY_LOGIT_TOL } from './helpers/tolerances.js';

test('the best kernels for this CPU are in use', (t) => {
  const info = crossrank.cpuInfo();
  t.log(JSON.stringify(info));
  const vnni = info.features['avx512Vnni'] && info.features['avx512vl'] && info.features['avx512bw'];
  const bf16 = vnni && info.features['avx512Bf16'];
  if (info.features['avx2'] && info.features['fma']) {
    t.is(info.isa, bf16 ? 'avx512bf16' : vnni ? 'avx512vnni' : info.features['avx512f'] ? 'avx512f' : 'avx2_fma');
  }
  t.not(info.isa, 'ref');
});

test(`tiny random model: token ids exact, logits within ${TINY_LOGIT_TOL.toExponential()} of PyTorch`, async (t) => {
  if (!sharedDataAvailable()) return t.pass('shared data missing outside CI');
  await checkParity(t, crossrank, tinyDir, loadGoldens('tiny'), TINY_LOGIT_TOL);
});

test(`all-MiniLM-L6-v2 cross-encoder: token ids exact, logits within ${MINILM_LOGIT_TOL.toExponential()} of PyTorch`, async (t) => {
  if (!minilmAvailable() || !sharedDataAvailable()) return t.pass('fixture missing outside CI');
  const result = await checkParity(t, crossrank, minilmDir, loadGoldens('minilm'), MINILM_LOGIT_TOL);
  t.true(result.cases >= 300);
});
