/**
 * The default model and the repository's offline one. load() with no name asks for the hub's
 * cross-encoder/ms-marco-MiniLM-L6-v2 (from the huggingface_hub cache here: no network). The
 * reranker in models/ tokenizes as transformers does, scores as the fp32 PyTorch model it was
 * quantised from (within int8's error), and stays small.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

import test from 'ava';

import { CrossEncoder, DEFAULT_MODEL_ID, HubError, OFFLINE_MODEL_NAME, offlineModelPath } from '../lib/index.js';
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

const work = mkdtempSync(join(tmpdir(), 'crossrank-default-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

/**
 * A huggingface_hub cache holding a snapshot under the default id, made of the offline model's
 * files (so the test needs no network; what is checked is which id load() asks for).
 */
let defaultIdCache: string | undefined;
function cacheWithDefaultId(): string {
  if (defaultIdCache !== undefined) return defaultIdCache;
  const cacheDir = join(work, 'hub');
  const commit = 'c'.repeat(40);
  const repo = join(cacheDir, `models--${DEFAULT_MODEL_ID.replace('/', '--')}`);
  mkdirSync(join(repo, 'snapshots', commit), { recursive: true });
  mkdirSync(join(repo, 'refs'), { recursive: true });
  for (const file of readdirSync(offlineModelPath())) {
    symlinkSync(join(offlineModelPath(), file), join(repo, 'snapshots', commit, file));
  }
  writeFileSync(join(repo, 'refs', 'main'), commit);
  return (defaultIdCache = cacheDir);
}

test('CrossEncoder.load() with no name loads cross-encoder/ms-marco-MiniLM-L6-v2 from the hub cache', (t) => {
  t.is(DEFAULT_MODEL_ID, 'cross-encoder/ms-marco-MiniLM-L6-v2');
  const error = t.throws(() => CrossEncoder.load({ cacheDir: join(work, 'empty'), localFilesOnly: true }), { instanceOf: HubError });
  t.is(error?.modelId, DEFAULT_MODEL_ID);
  const cacheDir = cacheWithDefaultId();
  const model = CrossEncoder.load({ cacheDir, threads: 1 });
  t.teardown(() => model.dispose());
  t.is(model.config.name, DEFAULT_MODEL_ID);
  t.is(model.config.commit, 'c'.repeat(40));
  t.is(model.threads, 1);
  const same = CrossEncoder.load(undefined, { cacheDir });
  t.teardown(() => same.dispose());
  t.is(same.config.name, DEFAULT_MODEL_ID);
});

test('the offline model file is the one the goldens were made with, and is well under 32 MB', (t) => {
  const dir = offlineModelPath();
  const file = join(dir, 'model.safetensors');
  t.is(createHash('sha256').update(readFileSync(file)).digest('hex'), goldens.shippedSha256);
  const bytes = readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
  t.log(`${OFFLINE_MODEL_NAME}: ${bytes} bytes on disk`);
  t.true(bytes < 26 * 1024 * 1024, `${bytes} bytes`);
});

test('the offline model scores as its fp32 PyTorch source, within int8 error', async (t) => {
  if (!sharedDataAvailable()) return t.pass();
  const model = CrossEncoder.load(offlineModelPath());
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

test('the CLI ranks with the default id when --model is not given', (t) => {
  const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
  const run = spawnSync(
    process.execPath,
    [cli, 'rank', '--query', 'how do rerankers work', '--docs', join(repoRoot, 'examples', 'passages.txt'), '--json', '--top-k', '3'],
    { encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: cacheWithDefaultId(), HF_HUB_OFFLINE: '1' } },
  );
  t.is(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { results: { index: number; score: number }[] };
  t.is(out.results.length, 3);
  for (let i = 1; i < out.results.length; i++) t.true(out.results[i - 1]!.score >= out.results[i]!.score);
});
