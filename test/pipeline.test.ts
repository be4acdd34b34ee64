/** retrieveAndRerank and DocumentIndex: retrieval by cosine, then the cross-encoder over the retrieved documents. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder, DocumentIndex, offlineModelPath, retrieveAndRerank, SentenceEncoder, type TextEmbedder } from '../lib/index.js';
import { minilmAvailable, minilmDir, repoRoot, sentenceMinilmAvailable, sentenceMinilmDir } from './helpers/fixtures.js';
import { SAME_ENGINE_TOL } from './helpers/tolerances.js';

/**
 * A bi-encoder stand-in whose embeddings are known exactly: each text maps to
 * the vector given for it (unnormalised, to check that the index normalises).
 */
class TableEmbedder implements TextEmbedder {
  readonly dimension = 3;
  calls: string[][] = [];
  constructor(private readonly table: Record<string, [number, number, number]>) {}
  async embed(texts: readonly string[]): Promise<Float32Array> {
    this.calls.push([...texts]);
    const out = new Float32Array(texts.length * 3);
    texts.forEach((text, i) => {
      const row = this.table[text];
      if (!row) throw new Error(`no embedding for ${text}`);
      out.set(row, i * 3);
    });
    return out;
  }
}

const table: Record<string, [number, number, number]> = {
  query: [1, 0, 0],
  a: [10, 0, 0], // cosine 1
  b: [0, 5, 0], // cosine 0
  c: [3, 4, 0], // cosine 0.6
  d: [-2, 0, 0], // cosine -1
  e: [4, 0, 3], // cosine 0.8
};
const documents = ['a', 'b', 'c', 'd', 'e'];

test('DocumentIndex.search orders by cosine similarity and normalises the embeddings', async (t) => {
  const index = await DocumentIndex.build(new TableEmbedder(table), documents);
  const hits = await index.search('query', 3);
  t.deepEqual(
    hits.map((h) => h.index),
    [0, 4, 2],
  );
  t.deepEqual(
    hits.map((h) => Number(h.score.toFixed(6))),
    [1, 0.8, 0.6],
  );
  const all = await index.search('query', 99);
  t.deepEqual(
    all.map((h) => h.index),
    [0, 4, 2, 1, 3],
  );
});

test('retrieveAndRerank reranks exactly the retrieved documents with the cross-encoder', async (t) => {
  if (!minilmAvailable()) return t.pass();
  const reranker = CrossEncoder.load(minilmDir);
  t.teardown(() => reranker.dispose());
  const embedder = new TableEmbedder(table);
  const results = await retrieveAndRerank('query', documents, { encoder: embedder, reranker, retrieveK: 3, returnDocuments: true });

  // The cross-encoder scored the three nearest documents, and only those.
  t.deepEqual(results.map((r) => r.index).sort(), [0, 2, 4]);
  const expected = await reranker.rank('query', ['a', 'e', 'c']);
  t.deepEqual(
    results.map((r) => r.score),
    expected.map((r) => r.score),
  );
  t.deepEqual(
    results.map((r) => r.retrievalRank),
    expected.map((r) => r.index),
  );
  for (const r of results) {
    t.is(r.document, documents[r.index]);
    t.is(Number(r.retrievalScore.toFixed(6)), new Map([[0, 1], [4, 0.8], [2, 0.6]]).get(r.index)!);
  }
  for (let i = 1; i < results.length; i++) t.true(results[i - 1]!.score >= results[i]!.score);

  const top1 = await retrieveAndRerank('query', documents, { encoder: embedder, reranker, retrieveK: 3, topK: 1 });
  const { document: _document, ...best } = results[0]!;
  t.deepEqual(top1, [best]);
});

test('a DocumentIndex is embedded once and searched for many queries', async (t) => {
  if (!minilmAvailable()) return t.pass();
  const reranker = CrossEncoder.load(minilmDir);
  t.teardown(() => reranker.dispose());
  const embedder = new TableEmbedder(table);
  const index = await DocumentIndex.build(embedder, documents);
  await retrieveAndRerank('query', index, { reranker, retrieveK: 2 });
  await retrieveAndRerank('query', index, { reranker, retrieveK: 4 });
  // One call embeds the documents, then one call per query.
  t.deepEqual(embedder.calls, [documents, ['query'], ['query']]);
});

test('retrieveAndRerank names the option at fault', async (t) => {
  if (!minilmAvailable()) return t.pass();
  const reranker = CrossEncoder.load(minilmDir);
  t.teardown(() => reranker.dispose());
  const encoder = new TableEmbedder(table);
  await t.throwsAsync(retrieveAndRerank('query', documents, { encoder, reranker, retrieveK: 0 }), {
    instanceOf: RangeError,
    message: /options\.retrieveK must be a positive integer/,
  });
  await t.throwsAsync(retrieveAndRerank('query', documents, { encoder, reranker, topK: 1.5 }), {
    instanceOf: RangeError,
    message: /options\.topK/,
  });
  await t.throwsAsync(retrieveAndRerank('query', documents, { reranker }), {
    instanceOf: TypeError,
    message: /options\.encoder must be a bi-encoder/,
  });
  await t.throwsAsync(retrieveAndRerank('query', documents, { encoder } as never), {
    instanceOf: TypeError,
    message: /options\.reranker must be a CrossEncoder/,
  });
  await t.throwsAsync(retrieveAndRerank('query', ['a', 7] as never, { encoder, reranker }), {
    instanceOf: TypeError,
    message: /documents\[1\] must be a string/,
  });
  await t.throwsAsync(retrieveAndRerank(42 as never, documents, { encoder, reranker }), {
    instanceOf: TypeError,
    message: /query must be a string/,
  });
});

test('search: the CLI retrieves with all-MiniLM-L6-v2 and reranks with the shipped model', async (t) => {
  if (!sentenceMinilmAvailable()) return t.pass();
  const docs = join(repoRoot, 'examples', 'passages.txt');
  const query = 'how do rerankers work';
  const run = spawnSync(
    process.execPath,
    [join(repoRoot, 'dist', 'lib', 'cli.js'), 'search', '--encoder', sentenceMinilmDir, '--model', offlineModelPath(), '--query', query, '--docs', docs, '--retrieve-k', '5', '--json'],
    { encoding: 'utf8' },
  );
  t.is(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { results: { index: number; score: number; retrievalRank: number; retrievalScore: number }[] };
  t.is(out.results.length, 5);

  // The retrieved five are the five nearest by the bi-encoder's own cosine; the order is the default model's.
  const documents = readFileSync(docs, 'utf8').split('\n').filter((line) => line.trim() !== '');
  const encoder = SentenceEncoder.load(sentenceMinilmDir);
  const reranker = CrossEncoder.load(offlineModelPath());
  t.teardown(() => {
    encoder.dispose();
    reranker.dispose();
  });
  const index = await DocumentIndex.build(encoder, documents);
  const nearest = await index.search(query, 5);
  t.deepEqual(
    out.results.map((r) => r.index).sort((a, b) => a - b),
    nearest.map((h) => h.index).sort((a, b) => a - b),
  );
  const reranked = await reranker.rank(
    query,
    nearest.map((h) => documents[h.index]!),
  );
  t.deepEqual(
    out.results.map((r) => r.index),
    reranked.map((r) => nearest[r.index]!.index),
  );
  for (const r of out.results) t.true(Math.abs(r.retrievalScore - nearest[r.retrievalRank]!.score) < SAME_ENGINE_TOL);
});
