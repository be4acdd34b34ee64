/**
 * The reranker shipped in models/: loads with no path, tokenizes as transformers does, scores as
 * the fp32 PyTorch model it was quantised from (within int8's error), and stays small.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

import test from 'ava';

import { CrossEncoder, DEFAULT_MODEL_NAME, defaultModelPath } from '../lib/index.js';
import { spearman } from '../bench/quality/metrics.js';
import { fixturesDir, readJson, repoRoot, sharedDataAvailable } from './helpers/fixtures.js';
import { type GoldenFile, resolveText } from './helpers/goldens.js';

interface DefaultGoldens extends GoldenFile {
  modelSha256: string;
  shippedSha256: string;
}

const goldens = readJson<DefaultGoldens>(join(fixturesDir, 'default-model-goldens.json'));
/** int8 against the fp32 model it came from: per-pair logit error, and order within each query. */
const MAX_LOGIT_ERROR = 0.25;
const MIN_SPEARMAN = 0.95;

test('CrossEncoder.load() with no path loads the shipped int8 reranker', (t) => {
  const model = CrossEncoder.load();
  t.teardown(() => model.dispose());
  t.is(model.config.path, defaultModelPath());
  t.true(defaultModelPath().endsWith(join('models', DEFAULT_MODEL_NAME)));
  t.is(model.config.dtype, 'int8');
  t.is(model.config.numLabels, 1);
  const withOptions = CrossEncoder.load({ threads: 1 });
  t.teardown(() => withOptions.dispose());
  t.is(withOptions.threads, 1);
  t.is(withOptions.config.path, defaultModelPath());
});

test('the shipped model file is the one the goldens were made with, and is well under 32 MB', (t) => {
  const dir = defaultModelPath();
  const file = join(dir, 'model.safetensors');
  t.is(createHash('sha256').update(readFileSync(file)).digest('hex'), goldens.shippedSha256);
  const bytes = readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
  t.log(`${DEFAULT_MODEL_NAME}: ${bytes} bytes on disk`);
  t.true(bytes < 26 * 1024 * 1024, `${bytes} bytes`);
});

test('the shipped model scores as its fp32 PyTorch source, within int8 error', async (t) => {
  if (!sharedDataAvailable()) return t.pass();
  const model = CrossEncoder.load();
  t.teardown(() => model.dispose());
  const pairs = goldens.cases.map((c): [string, string] => [resolveText(c.query), resolveText(c.passage)]);
  const encoded = model.tokenize(pairs);
  let offset = 0;
  goldens.cases.forEach((c, i) => {
    const length = encoded.lengths[i]!;
    t.deepEqual(Array.from(encoded.ids.subarray(offset, offset + length)), c.ids, c.name);
    offset += length;
  });
  const logits = await model.predict(pairs, { activation: 'none' });
  let worst = 0;
  goldens.cases.forEach((c, i) => {
    worst = Math.max(worst, Math.abs(logits[i]! - c.logits[0]!));
  });
  const byQuery = new Map<string, number[]>();
  goldens.cases.forEach((c, i) => {
    const key = JSON.stringify(c.query);
    byQuery.set(key, [...(byQuery.get(key) ?? []), i]);
  });
  const correlations = [...byQuery.values()].map((rows) =>
    spearman(
      rows.map((i) => logits[i]!),
      rows.map((i) => goldens.cases[i]!.logits[0]!),
    ),
  );
  t.log(
    `int8 vs PyTorch fp32 over ${pairs.length} pairs: max |logit diff| ${worst.toFixed(4)}, ` +
      `Spearman per query ${correlations.map((r) => r.toFixed(4)).join(' ')}`,
  );
  t.true(worst <= MAX_LOGIT_ERROR, `max |diff| ${worst}`);
  for (const r of correlations) t.true(r >= MIN_SPEARMAN, `Spearman ${r}`);
});

test('the CLI ranks with the shipped model when --model is not given', (t) => {
  const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
  const run = spawnSync(
    process.execPath,
    [cli, 'rank', '--query', 'how do rerankers work', '--docs', join(repoRoot, 'examples', 'passages.txt'), '--json', '--top-k', '3'],
    { encoding: 'utf8' },
  );
  t.is(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { results: { index: number; score: number }[] };
  t.is(out.results.length, 3);
  for (let i = 1; i < out.results.length; i++) t.true(out.results[i - 1]!.score >= out.results[i]!.score);
});
