/**
 * Long documents: truncation against best-window scoring (rank's
 * maxTokensPerDoc), nDCG@10 on TREC DL 2020.
 *
 * Each of a query's BM25 passages (the first --docs of its 100) becomes a
 * long document: 8 consecutive passages of the other queries' lists (or, with
 * --filler sts, 56 consecutive STS-B sentences), then the passage itself, then
 * 2 more (14 sentences), so the passage that was judged sits in the second
 * half, mostly past the model's 512 tokens. The judgements stay those of the
 * passage. Ranking these documents by their truncated first 512 tokens cannot
 * see the passage; windows can. The passages alone give the ceiling.
 *   usage: npm run bench:long-documents -- [--model DIR] [--queries N] [--docs N] [--filler trec|sts]
 *          [--threads N] [--json FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CrossEncoder, type RankOptions } from '../lib/index.js';
import { ndcgAt10 } from './quality/metrics.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const FILLER_BEFORE = 8;
const FILLER_AFTER = 2;

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(REPO, '..', 'shared', 'data', 'trec-dl20') },
    model: { type: 'string' },
    queries: { type: 'string' },
    docs: { type: 'string' },
    filler: { type: 'string', default: 'trec' },
    threads: { type: 'string' },
    'max-tokens-per-doc': { type: 'string', default: '4096' },
    json: { type: 'string' },
  },
  strict: true,
});

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${value}`);
  return n;
}

interface Hit {
  qid: string | number;
  docid: string | number;
  rank: number;
  content: string;
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    throw new Error(`long-documents: cannot read ${path}: ${(error as Error).message}`);
  }
}

const dataDir = resolve(values.data);
const runs = readJson<{ query: string; hits: Hit[] }[]>(join(dataDir, 'retrieve_results_dl20.json'));
const qrels = readJson<Record<string, Record<string, string>>>(join(dataDir, 'qrels_dl20.json'));
const queryCount = positive(values.queries, '--queries') ?? runs.length;
const maxTokensPerDoc = positive(values['max-tokens-per-doc'], '--max-tokens-per-doc')!;
const docsPerQuery = positive(values.docs, '--docs') ?? 100;
const queries = runs.slice(0, queryCount).map((entry, q) => ({
  index: q,
  qid: String(entry.hits[0]!.qid),
  query: entry.query,
  hits: [...entry.hits].sort((a, b) => a.rank - b.rank).slice(0, docsPerQuery),
}));

if (values.filler !== 'trec' && values.filler !== 'sts') throw new Error(`--filler must be trec or sts, got ${values.filler}`);
// STS-B sentences are short: seven of them stand for one passage.
const fillerUnit = values.filler === 'sts' ? 7 : 1;
const stsSentences =
  values.filler === 'sts'
    ? readFileSync(join(dataDir, '..', 'stsbenchmark', 'sts-train.csv'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\t')[5]!)
    : [];

/** The filler texts in file order: the passages of every query but `except`, or STS-B sentences. */
function fillerPool(except: number): string[] {
  if (values.filler === 'sts') return stsSentences;
  return runs.flatMap((entry, q) => (q === except ? [] : entry.hits.map((h) => h.content)));
}

/** The filler around passage j of a query: a block of consecutive pool passages that moves with j. */
function filler(pool: string[], j: number): { before: string; after: string } {
  const start = (j * 37 * fillerUnit) % pool.length;
  const take = (count: number, from: number) =>
    Array.from({ length: count }, (_, k) => pool[(from + k) % pool.length]!).join(' ');
  const [before, after] = [FILLER_BEFORE * fillerUnit, FILLER_AFTER * fillerUnit];
  return { before: take(before, start), after: take(after, start + before) };
}

function longDocuments(q: (typeof queries)[number]): string[] {
  const pool = fillerPool(q.index);
  return q.hits.map((h, j) => {
    const { before, after } = filler(pool, j);
    return `${before} ${h.content} ${after}`;
  });
}

const model = CrossEncoder.load(values.model, { threads: positive(values.threads, '--threads') });
const maxLength = model.config.maxLength;

interface Setting {
  name: string;
  documents: (q: (typeof queries)[number]) => string[];
  options: RankOptions;
}
const settings: Setting[] = [
  { name: 'passages alone (ceiling)', documents: (q) => q.hits.map((h) => h.content), options: {} },
  { name: `long documents, truncated to ${maxLength} tokens (default)`, documents: longDocuments, options: {} },
  {
    name: `long documents, best window (maxTokensPerDoc ${maxTokensPerDoc})`,
    documents: longDocuments,
    options: { maxTokensPerDoc },
  },
];

// How far into the long documents the judged passage starts, in tokens.
let cut = 0;
let total = 0;
let documentTokens = 0;
for (const q of queries) {
  const pool = fillerPool(q.index);
  const before = q.hits.map((_, j) => [q.query, filler(pool, j).before] as const);
  const untruncated = await model.tokenizeAsync(before, { maxLength: 1 << 20 });
  for (const length of untruncated.lengths) {
    total++;
    if (length >= maxLength) cut++;
  }
  const documents = longDocuments(q).map((document) => ['', document] as const);
  documentTokens += (await model.tokenizeAsync(documents, { maxLength: 1 << 20 })).ids.length - 3 * documents.length;
}

const results = [];
for (const setting of settings) {
  let ndcgSum = 0;
  let windows = 0;
  const start = performance.now();
  for (const q of queries) {
    const ranked = await model.rank(q.query, setting.documents(q), setting.options);
    windows += ranked.reduce((n, r) => n + (r.window?.count ?? 1), 0);
    ndcgSum += ndcgAt10(
      ranked.map((r) => String(q.hits[r.index]!.docid)),
      qrels[q.qid] ?? {},
    );
  }
  const seconds = (performance.now() - start) / 1000;
  const row = {
    setting: setting.name,
    ndcg10: Number((ndcgSum / queries.length).toFixed(4)),
    pairsScored: windows,
    seconds: Number(seconds.toFixed(1)),
  };
  results.push(row);
  console.log(`${row.setting}: nDCG@10 ${row.ndcg10.toFixed(4)} (${row.pairsScored} pairs scored, ${row.seconds} s)`);
}
model.dispose();

const summary = {
  model: relative(REPO, model.config.path),
  dtype: model.config.dtype,
  maxLength,
  queries: queries.length,
  documentsPerQuery: docsPerQuery,
  filler: values.filler,
  meanDocumentTokens: Math.round(documentTokens / total),
  judgedPassageCutOffByTruncation: `${cut}/${total}`,
  results,
};
console.log(
  `${queries.length} queries, ${total} long documents of ${summary.meanDocumentTokens} tokens on average; ` +
    `in ${cut} of them the judged passage starts past the ${maxLength}-token window`,
);
if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
