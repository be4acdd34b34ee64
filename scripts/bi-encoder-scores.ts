/**
 * Developer-only helper of scripts/train-reranker.py: the all-MiniLM-L6-v2 bi-encoder's cosine
 * similarity between each TREC DL 2020 query and each of its BM25 top-100 passages, computed with
 * crossrank's SentenceEncoder, written as JSON {qid: {docid: cosine}} to the path given.
 *
 *   npx tsx scripts/bi-encoder-scores.ts OUT.json [DATA_DIR] [ENCODER_DIR]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SentenceEncoder } from '../lib/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const [out, dataDir = join(repo, '..', 'shared', 'data', 'trec-dl20'), encoderDir = join(repo, '.cache', 'models', 'all-minilm-l6-v2')] =
  process.argv.slice(2);
if (!out) throw new Error('usage: bi-encoder-scores.ts OUT.json [DATA_DIR] [ENCODER_DIR]');

interface Entry {
  query: string;
  hits: { qid: string | number; docid: string | number; content: string }[];
}
const runs = JSON.parse(readFileSync(join(dataDir, 'retrieve_results_dl20.json'), 'utf8')) as Entry[];
const encoder = SentenceEncoder.load(encoderDir);
const dimension = encoder.dimension;
const scores: Record<string, Record<string, number>> = {};
for (const entry of runs) {
  const embedded = await encoder.embed([entry.query, ...entry.hits.map((h) => h.content)], { normalize: true });
  const perDoc: Record<string, number> = {};
  entry.hits.forEach((hit, d) => {
    let dot = 0;
    for (let j = 0; j < dimension; j++) dot += embedded[j]! * embedded[(d + 1) * dimension + j]!;
    perDoc[String(hit.docid)] = dot;
  });
  scores[String(entry.hits[0]!.qid)] = perDoc;
}
encoder.dispose();
writeFileSync(out, JSON.stringify(scores));
