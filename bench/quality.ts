/**
 * int8 and bf16 quality gates: the dtype against fp32 on any one-label model folder over the TREC DL
 * 2020 BM25 top-100 of each query (see bench/quality/compare.ts for what is compared). Prints the
 * figures and writes bench/results/quality.json (quality-bf16.json for bf16); exits 1 when the mean
 * Spearman is under the dtype's bar (int8 0.99, bf16 0.999), or for bf16 when nDCG@10 moves by more
 * than 0.002.
 *
 *   npx tsx bench/quality.ts [--model DIR] [--queries N] [--threads N] [--dtype int8|bf16]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { compareWithFp32 } from './quality/compare.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA_DIR = join(process.env['CROSSRANK_SHARED_DATA'] ?? join(REPO, '..', 'shared', 'data'), 'trec-dl20');
/** Each dtype's bar: mean per-query Spearman against fp32 (issues 6 and 17). */
export const MIN_MEAN_SPEARMAN = { int8: 0.99, bf16: 0.999 } as const;
/** bf16's second bar (issue 17): |nDCG@10 bf16 - fp32| at most this. */
export const MAX_BF16_NDCG_DIFF = 0.002;

const options = { model: join(REPO, '.cache', 'models', 'minilm-l6-cross-encoder'), queries: 54, threads: 2, dtype: 'int8' as 'int8' | 'bf16' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const value = argv[i + 1];
  if (value === undefined) throw new Error(`${argv[i]} needs a value`);
  if (argv[i] === '--model') options.model = value;
  else if (argv[i] === '--queries') options.queries = Number(value);
  else if (argv[i] === '--threads') options.threads = Number(value);
  else if (argv[i] === '--dtype') {
    if (value !== 'int8' && value !== 'bf16') throw new Error(`--dtype must be int8 or bf16, got ${value}`);
    options.dtype = value;
  }
  else throw new Error(`unknown option ${argv[i]} (see the header of bench/quality.ts)`);
}

const started = performance.now();
const dtype = options.dtype;
const report = compareWithFp32({
  modelDir: options.model,
  dataPath: join(DATA_DIR, 'retrieve_results_dl20.json'),
  qrelsPath: join(DATA_DIR, 'qrels_dl20.json'),
  queries: options.queries,
  threads: options.threads,
}, dtype);
const lines = [
  `${dtype} vs fp32, ${options.model}: ${report.queries} queries, ${report.pairs} pairs (${((performance.now() - started) / 1000).toFixed(0)} s)`,
  `  Spearman per query: mean ${report.meanSpearman.toFixed(4)}, min ${report.minSpearman.toFixed(4)}`,
  `  top 10 unchanged: same documents in the same order ${report.top10UnchangedFraction.toFixed(3)} (${report.top10Unchanged}/${report.queries}), same set ${report.top10SetUnchangedFraction.toFixed(3)}`,
  `  max |logit diff|: ${report.maxAbsLogitDiff.toExponential(3)}`,
  `  pooled [CLS] cosine per pair: min ${report.clsCosineMin.toFixed(5)}, mean ${report.clsCosineMean.toFixed(5)}`,
];
if (report.ndcg10) {
  lines.push(
    `  nDCG@10: BM25 ${report.ndcg10.bm25.toFixed(4)}, fp32 ${report.ndcg10.fp32.toFixed(4)}, ${dtype} ${report.ndcg10[dtype]!.toFixed(4)} (the fixture's head is untrained: only the difference means something)`,
  );
}
console.log(lines.join('\n'));
mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
writeFileSync(join(REPO, 'bench', 'results', dtype === 'int8' ? 'quality.json' : `quality-${dtype}.json`), `${JSON.stringify({ date: new Date().toISOString(), model: options.model, ...report }, null, 2)}\n`);
if (!(report.meanSpearman >= MIN_MEAN_SPEARMAN[dtype])) {
  console.error(`FAILED: mean Spearman ${report.meanSpearman.toFixed(4)} < ${MIN_MEAN_SPEARMAN[dtype]}`);
  process.exitCode = 1;
}
if (dtype === 'bf16' && report.ndcg10 && !(Math.abs(report.ndcg10.bf16! - report.ndcg10.fp32) <= MAX_BF16_NDCG_DIFF)) {
  console.error(`FAILED: |nDCG@10 bf16 - fp32| = ${Math.abs(report.ndcg10.bf16! - report.ndcg10.fp32).toFixed(4)} > ${MAX_BF16_NDCG_DIFF}`);
  process.exitCode = 1;
}
