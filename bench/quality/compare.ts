/**
 * int8 or bf16 against fp32 on one model folder: every query's BM25 top-100 of TREC DL 2020 scored by both,
 * compared by ranking (Spearman, top 10), by logit (max |diff|) and by the pooled [CLS]
 * representation (cosine per pair), which is what the head reads: it shows int8's error even when
 * the head is untrained. With relevance judgements, nDCG@10 of both (and of the BM25 order).
 */
import { readFileSync } from 'node:fs';

import { CrossEncoder, type Dtype } from '../../lib/index.js';
import { engineAddon } from '../../lib/native.js';
import { cosine, maxAbsDiff, ndcgAt10, sameTopK, sameTopKSet, spearman } from './metrics.js';

export interface QualityOptions {
  modelDir: string;
  /** retrieve_results_dl20.json: [{query, hits: [{qid, docid, rank, content}]}] */
  dataPath: string;
  /** qrels_dl20.json ({qid: {docid: grade}}), for nDCG@10; omit to skip it. */
  qrelsPath?: string;
  /** The first `queries` queries of the file. */
  queries: number;
  threads: number;
}

export interface QualityReport {
  queries: number;
  pairs: number;
  /** The dtype compared with fp32. */
  dtype: Dtype;
  /** Mean over queries of Spearman's correlation of the dtype's and fp32 logits. */
  meanSpearman: number;
  minSpearman: number;
  /** Queries whose 10 best documents are the same, in the same order, under the dtype and fp32. */
  top10Unchanged: number;
  top10UnchangedFraction: number;
  /** Queries whose 10 best documents are the same set (in any order). */
  top10SetUnchangedFraction: number;
  maxAbsLogitDiff: number;
  /** Cosine of the fp32 and the dtype's pooled [CLS] vectors, per pair. */
  clsCosineMin: number;
  clsCosineMean: number;
  /** nDCG@10 of BM25's order, fp32's and the dtype's (under the key 'int8' or 'bf16'). */
  ndcg10?: { bm25: number; fp32: number } & Partial<Record<Dtype, number>>;
}

interface Hit {
  qid: string | number;
  docid: string | number;
  rank: number;
  content: string;
}

interface Query {
  query: string;
  hits: Hit[];
}

function scoreAll(modelDir: string, dtype: Dtype, threads: number, workload: Query[]): { logits: Float32Array[]; pooled: Float32Array[] } {
  const model = CrossEncoder.load(modelDir, { threads, dtype });
  // The pooled rows come from the engine directly (a second handle on the same folder).
  const engine = new (engineAddon().Model)(modelDir, { threads, dtype });
  const hidden = model.config.hiddenSize;
  try {
    const logits: Float32Array[] = [];
    const pooled: Float32Array[] = [];
    for (const { query, hits } of workload) {
      const pairs = hits.map((hit) => [query, hit.content] as [string, string]);
      const scores = model.predictSync(pairs, { activation: 'none' });
      if (model.config.numLabels !== 1) throw new RangeError(`${modelDir}: the quality gate needs a one-label model`);
      logits.push(scores);
      const encoded = model.tokenize(pairs);
      const rows = engine.pooledSync(encoded.ids, encoded.typeIds, encoded.lengths);
      for (let i = 0; i < pairs.length; i++) pooled.push(rows.subarray(i * hidden, (i + 1) * hidden));
    }
    return { logits, pooled };
  } finally {
    model.dispose();
    engine.dispose();
  }
}

function rankedDocids(hits: Hit[], scores: ArrayLike<number>): string[] {
  return hits
    .map((hit, i) => ({ docid: String(hit.docid), score: scores[i]! }))
    .sort((a, b) => b.score - a.score)
    .map((h) => h.docid);
}

export function compareInt8(options: QualityOptions): QualityReport {
  return compareWithFp32(options, 'int8');
}

export function compareWithFp32(options: QualityOptions, dtype: Dtype): QualityReport {
  const all = JSON.parse(readFileSync(options.dataPath, 'utf8')) as Query[];
  const workload = all.slice(0, options.queries);
  const fp32 = scoreAll(options.modelDir, 'fp32', options.threads, workload);
  const int8 = scoreAll(options.modelDir, dtype, options.threads, workload);

  const correlations = workload.map((_, q) => spearman(fp32.logits[q]!, int8.logits[q]!));
  const unchanged = workload.filter((_, q) => sameTopK(fp32.logits[q]!, int8.logits[q]!, 10)).length;
  const cosines = fp32.pooled.map((v, i) => cosine(v, int8.pooled[i]!));
  const report: QualityReport = {
    dtype,
    queries: workload.length,
    pairs: cosines.length,
    meanSpearman: correlations.reduce((s, x) => s + x, 0) / correlations.length,
    minSpearman: Math.min(...correlations),
    top10Unchanged: unchanged,
    top10UnchangedFraction: unchanged / workload.length,
    top10SetUnchangedFraction: workload.filter((_, q) => sameTopKSet(fp32.logits[q]!, int8.logits[q]!, 10)).length / workload.length,
    maxAbsLogitDiff: Math.max(...workload.map((_, q) => maxAbsDiff(fp32.logits[q]!, int8.logits[q]!))),
    clsCosineMin: Math.min(...cosines),
    clsCosineMean: cosines.reduce((s, x) => s + x, 0) / cosines.length,
  };
  if (options.qrelsPath !== undefined) {
    const qrels = JSON.parse(readFileSync(options.qrelsPath, 'utf8')) as Record<string, Record<string, string>>;
    const mean = (f: (query: Query, q: number) => string[]): number => {
      const judged = workload.map((query, q) => ({ query, q })).filter(({ query }) => qrels[String(query.hits[0]?.qid)]);
      return judged.reduce((s, { query, q }) => s + ndcgAt10(f(query, q), qrels[String(query.hits[0]!.qid)]!), 0) / judged.length;
    };
    report.ndcg10 = {
      bm25: mean((query) => [...query.hits].sort((a, b) => a.rank - b.rank).map((h) => String(h.docid))),
      fp32: mean((query, q) => rankedDocids(query.hits, fp32.logits[q]!)),
      [dtype]: mean((query, q) => rankedDocids(query.hits, int8.logits[q]!)),
    };
  }
  return report;
}
