/**
 * The int8 quality gate on a sample (bench/quality.ts runs it on every query): the all-MiniLM-L6-v2
 * cross-encoder fixture, int8 against fp32 over the BM25 top-100 of the first TREC DL 2020 queries.
 * Also checks the gate's own metrics on known values.
 */
import { join } from 'node:path';

import test from 'ava';

import { compareInt8 } from '../bench/quality/compare.js';
import { cosine, ndcgAt10, ranks, sameTopK, sameTopKSet, spearman } from '../bench/quality/metrics.js';
import { minilmAvailable, minilmDir, readJson, sharedDataAvailable, sharedDataDir } from './helpers/fixtures.js';
import { DOUBLE_TOL } from './helpers/tolerances.js';

const SAMPLE_QUERIES = 5;
// The bar.
const MIN_MEAN_SPEARMAN = 0.99;
// Measured on the first 3 queries: mean Spearman 0.997, pooled [CLS] cosine min 0.9992, max
// |logit diff| 0.071; with one activation scale per row instead of per block of 32: 0.983, 0.9957
// and 0.12, failing all three limits.
const MIN_CLS_COSINE = 0.998;
const MAX_LOGIT_DIFF = 0.1;

test('metrics: Spearman with ties, top 10, cosine', (t) => {
  t.deepEqual(Array.from(ranks([10, 20, 20, 5])), [2, 3.5, 3.5, 1]);
  t.is(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  t.is(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // scipy.stats.spearmanr([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) = 0.8
  t.true(Math.abs(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) - 0.8) < DOUBLE_TOL);
  const scores = Array.from({ length: 20 }, (_, i) => i); // top 10: indices 19 down to 10
  const swap = (i: number, j: number): number[] => {
    const s = [...scores];
    [s[i], s[j]] = [s[j]!, s[i]!];
    return s;
  };
  t.true(sameTopK(scores, scores.map((x) => 2 * x), 10));
  t.true(sameTopK(scores, swap(0, 1), 10)); // below the top 10
  t.false(sameTopK(scores, swap(10, 11), 10)); // order inside the top 10
  t.false(sameTopK(scores, swap(9, 10), 10)); // the tenth document replaced
  t.true(sameTopKSet(scores, swap(10, 11), 10));
  t.false(sameTopKSet(scores, swap(9, 10), 10));
  t.true(Math.abs(cosine([1, 0], [1, 1]) - Math.SQRT1_2) < DOUBLE_TOL);
});

test('metrics: nDCG@10 of the BM25 order is the published 0.4796', (t) => {
  if (!sharedDataAvailable()) return t.pass('data missing outside CI');
  const runs = readJson<{ hits: { qid: string; docid: string; rank: number }[] }[]>(join(sharedDataDir, 'trec-dl20', 'retrieve_results_dl20.json'));
  const qrels = readJson<Record<string, Record<string, string>>>(join(sharedDataDir, 'trec-dl20', 'qrels_dl20.json'));
  const judged = runs.filter((r) => qrels[String(r.hits[0]!.qid)]);
  const mean =
    judged.reduce((s, r) => s + ndcgAt10([...r.hits].sort((a, b) => a.rank - b.rank).map((h) => String(h.docid)), qrels[String(r.hits[0]!.qid)]!), 0) /
    judged.length;
  t.is(mean.toFixed(4), '0.4796');
});

test(`int8 against fp32 on ${SAMPLE_QUERIES} TREC DL 2020 queries: rankings and pooled [CLS] hold`, (t) => {
  if (!minilmAvailable() || !sharedDataAvailable()) return t.pass('fixture missing outside CI');
  const report = compareInt8({
    modelDir: minilmDir,
    dataPath: join(sharedDataDir, 'trec-dl20', 'retrieve_results_dl20.json'),
    queries: SAMPLE_QUERIES,
    threads: 2,
  });
  t.log(JSON.stringify(report));
  t.is(report.pairs, SAMPLE_QUERIES * 100);
  t.true(report.meanSpearman >= MIN_MEAN_SPEARMAN, `mean Spearman ${report.meanSpearman}`);
  t.true(report.clsCosineMin >= MIN_CLS_COSINE, `min [CLS] cosine ${report.clsCosineMin}`);
  t.true(report.maxAbsLogitDiff <= MAX_LOGIT_DIFF, `max |logit diff| ${report.maxAbsLogitDiff}`);
});
