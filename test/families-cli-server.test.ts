/**
 * The command line (rank, score) and the server's /rerank on the non-BERT
 * families with one label (tiny XLM-RoBERTa: SentencePiece tokenizer,
 * positions after pad_token_id, no token types; ELECTRA: embedding
 * projection, GELU head; ModernBERT: rotary positions, local attention),
 * in fp32 and int8: each must give exactly what the library gives for the
 * same pairs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { CrossEncoder } from '../lib/index.js';
import { fixturesDir, repoRoot } from './helpers/fixtures.js';
import { startServer } from './helpers/server.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
const query = 'Где находится Токио? 東京はどこ';
const documents = [
  'Tokyo is the capital of Japan.',
  '東京は日本の首都です。',
  'Токио — столица Японии.',
  'القاهرة عاصمة مصر',
  'A fox jumps over the lazy dog 🦊.',
];

const FAMILIES = ['tiny-xlm-roberta', 'tiny-electra', 'tiny-modernbert'];

for (const family of FAMILIES) {
  for (const dtype of ['fp32', 'int8'] as const) {
    const dir = join(fixturesDir, family);
    const model = CrossEncoder.load(dir, { dtype });
    test.after.always(() => model.dispose());
    const name = `${family} ${dtype}`;

    test(`crossrank rank --json on ${name}: the library ranking and its scores`, async (t) => {
      const docs = join(mkdtempSync(join(tmpdir(), 'crossrank-family-cli-')), 'docs.txt');
      writeFileSync(docs, documents.join('\n') + '\n');
      const { stdout } = await run('node', [cli, 'rank', '--model', dir, '--dtype', dtype, '--query', query, '--docs', docs, '--json']);
      const output = JSON.parse(stdout) as { results: { index: number; score: number; document: string }[] };
      const expected = await model.rank(query, documents);
      t.deepEqual(output.results.map((r) => r.index), expected.map((r) => r.index));
      for (const [i, r] of output.results.entries()) {
        t.is(r.score, expected[i]!.score);
        t.is(r.document, documents[r.index]!);
      }
    });

    test(`crossrank score on ${name}: one line per pair, the library scores`, async (t) => {
      const work = mkdtempSync(join(tmpdir(), 'crossrank-family-score-'));
      const input = join(work, 'pairs.jsonl');
      const output = join(work, 'scores.jsonl');
      writeFileSync(input, documents.map((d) => JSON.stringify([query, d])).join('\n') + '\n');
      await run('node', [cli, 'score', '--model', dir, '--dtype', dtype, '--input', input, '--output', output]);
      const lines = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; score: number });
      const expected = await model.predict(documents.map((d) => [query, d] as [string, string]));
      t.is(lines.length, documents.length);
      for (const [i, l] of lines.entries()) t.is(l.score, expected[i]!, `line ${l.line}`);
    });

    test(`server /rerank on ${name}: sorted, the library scores and logits`, async (t) => {
      const { base } = await startServer(t, model);
      const post = async (body: unknown) =>
        (await (await fetch(`${base}/rerank`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).json()) as { index: number; score: number }[];
      const pairs = documents.map((d) => [query, d] as [string, string]);
      const scores = await model.predict(pairs);
      const logits = await model.predict(pairs, { activation: 'none' });
      const ranked = await post({ query, texts: documents });
      t.deepEqual(ranked.map((r) => r.index).sort(), documents.map((_, i) => i));
      for (let i = 1; i < ranked.length; i++) t.true(ranked[i - 1]!.score >= ranked[i]!.score, 'best first');
      for (const r of ranked) t.is(r.score, scores[r.index]!);
      for (const r of await post({ query, texts: documents, raw_scores: true })) t.is(r.score, logits[r.index]!);
    });
  }
}
