/**
 * The bf16 quality gate on a sample (bench/quality.ts --dtype bf16 runs it on every query): the
 * all-MiniLM-L6-v2 cross-encoder fixture, bf16 against fp32 over the BM25 top-100 of the first TREC
 * DL 2020 queries. Skipped, saying "NOT RUN", where the active kernels have no bf16 GEMM.
 */
import { join } from 'node:path';

import test from 'ava';

import { compareWithFp32 } from '../bench/quality/compare.js';
import { cpuInfo } from '../lib/index.js';
import { minilmAvailable, minilmDir, sharedDataAvailable, sharedDataDir } from './helpers/fixtures.js';

const SAMPLE_QUERIES = 5;
// Issue 17's bar for bf16.
const MIN_MEAN_SPEARMAN = 0.999;
// bf16 keeps 8 significant bits of each GEMM input, int8 about 7 with a scale per block of 32:
// the pooled [CLS] must stay at least as close as int8's (0.998).
const MIN_CLS_COSINE = 0.999;

const bgemm = cpuInfo().kernels['bgemm'] ?? '';
const bf16Test = bgemm === '' ? test.skip : test;
if (bgemm === '') console.warn(`NOT RUN: bf16 quality: the active kernels (${cpuInfo().isa}) have no bf16 GEMM`);

bf16Test(`bf16 against fp32 on ${SAMPLE_QUERIES} TREC DL 2020 queries: rankings and pooled [CLS] hold`, (t) => {
  if (!minilmAvailable() || !sharedDataAvailable()) return t.pass('fixture missing outside CI');
  const data = join(sharedDataDir, 'trec-dl20');
  const report = compareWithFp32(
    {
      modelDir: minilmDir,
      dataPath: join(data, 'retrieve_results_dl20.json'),
      qrelsPath: join(data, 'qrels_dl20.json'),
      queries: SAMPLE_QUERIES,
      threads: 2,
    },
    'bf16',
  );
  t.log(JSON.stringify(report));
  t.is(report.pairs, SAMPLE_QUERIES * 100);
  t.true(report.meanSpearman >= MIN_MEAN_SPEARMAN, `mean Spearman ${report.meanSpearman}`);
  t.true(report.clsCosineMin >= MIN_CLS_COSINE, `min [CLS] cosine ${report.clsCosineMin}`);
  t.true(Math.abs(report.ndcg10!.bf16! - report.ndcg10!.fp32) <= 0.002, `nDCG@10 ${JSON.stringify(report.ndcg10)}`);
});
