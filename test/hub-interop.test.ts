/**
 * The cache is shared with Python's huggingface_hub (installed into .cache/hub-venv by
 * scripts/setup-hub-python.sh, which `npm test` runs): both point at the same fake hub through
 * HF_ENDPOINT. What huggingface_hub downloads, crossrank loads offline; what crossrank
 * downloads, huggingface_hub finds with HF_HUB_OFFLINE=1 and its cache scan accepts.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder, SentenceEncoder } from '../lib/index.js';
import { commitOf, FakeHub, folderFiles, sentenceRepoFiles, sha256 } from './helpers/fake-hub.js';
import { fixtureAvailable, repoRoot, tinyDir } from './helpers/fixtures.js';
import { shardModel } from './helpers/safetensors.js';

const python = join(process.env['CROSSRANK_CACHE'] ?? join(repoRoot, '.cache'), 'hub-venv', 'bin', 'python');
const available = fixtureAvailable(python, 'run scripts/setup-hub-python.sh (npm test runs it)');

const TINY = folderFiles(tinyDir);
const MAIN = commitOf('interop-main');
const TAGGED = commitOf('interop-v1');
const taggedConfig = Buffer.from(TINY['config.json']!.toString().replace('"relevant"', '"relevant-v1"').replace('"relevant":', '"relevant-v1":'));
const SENTENCE = sentenceRepoFiles(TINY, 'mean', 36);
const { 'model.safetensors': tinyWeights, ...TINY_WITHOUT_WEIGHTS } = TINY;
const SHARDED = { ...TINY_WITHOUT_WEIGHTS, ...shardModel(tinyWeights!, 2) };
const hub = await FakeHub.start({
  'crossrank-test/tiny': { commits: { [MAIN]: TINY, [TAGGED]: { ...TINY, 'config.json': taggedConfig } }, refs: { main: MAIN, v1: TAGGED } },
  'crossrank-test/sentence': { commits: { [MAIN]: SENTENCE }, refs: { main: MAIN } },
  'crossrank-test/sharded': { commits: { [MAIN]: SHARDED }, refs: { main: MAIN } },
});
process.env['HF_ENDPOINT'] = hub.url;
delete process.env['HF_HUB_OFFLINE'];
test.after.always(() => hub.stop());
const work = mkdtempSync(join(tmpdir(), 'crossrank-interop-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

/**
 * Runs Python with huggingface_hub against the fake hub and this cache; resolves to its last
 * stdout line as JSON. Asynchronous: the fake hub answers from this process's event loop.
 */
async function py(code: string, cacheDir: string, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(python, ['-c', `import json, huggingface_hub as hh\n${code}`], {
    env: { PATH: process.env['PATH'] ?? '', HOME: work, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, HF_HUB_DISABLE_TELEMETRY: '1', ...env },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

const PAIRS: [string, string][] = [['how do rerankers work', 'A reranker scores each passage against the query.']];
const folderLogits = (): number[] => {
  const model = CrossEncoder.load(tinyDir);
  const logits = Array.from(model.predictSync(PAIRS, { activation: 'none' }));
  model.dispose();
  return logits;
};

test('what huggingface_hub downloads (file by file, as sentence-transformers does) crossrank loads offline', async (t) => {
  if (!available) return t.pass('skipped outside CI: no huggingface_hub');
  const cacheDir = join(work, 'from-python');
  const out = await py(
    `paths = [hh.hf_hub_download('crossrank-test/tiny', f) for f in ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json']]
tagged = hh.hf_hub_download('crossrank-test/tiny', 'config.json', revision='v1')
print(json.dumps({'version': hh.__version__, 'paths': paths, 'tagged': tagged}))`,
    cacheDir,
  );
  t.log(`huggingface_hub ${String(out['version'])}`);
  const model = CrossEncoder.load('crossrank-test/tiny', { cacheDir, localFilesOnly: true });
  t.teardown(() => model.dispose());
  t.is(model.config.commit, MAIN);
  t.is(model.config.path, join(cacheDir, 'models--crossrank-test--tiny', 'snapshots', MAIN));
  t.deepEqual(Array.from(model.predictSync(PAIRS, { activation: 'none' })), folderLogits());
  // Python cached only config.json at v1: not a whole model, so crossrank does not take it for one.
  t.throws(() => CrossEncoder.load('crossrank-test/tiny', { cacheDir, localFilesOnly: true, revision: 'v1' }), {
    message: /is in the cache .* without model\.safetensors, tokenizer\.json or vocab\.txt: only part of it was downloaded/,
  });
});

test('what huggingface_hub snapshot_download fetches, crossrank loads offline, a sentence encoder with its Pooling folder too', async (t) => {
  if (!available) return t.pass('skipped outside CI: no huggingface_hub');
  const cacheDir = join(work, 'snapshot-from-python');
  await py(`print(json.dumps({'path': hh.snapshot_download('crossrank-test/sentence')}))`, cacheDir);
  const model = SentenceEncoder.load('crossrank-test/sentence', { cacheDir, localFilesOnly: true });
  t.teardown(() => model.dispose());
  t.is(model.config.poolingSource, '1_Pooling/config.json');
  t.is(model.config.commit, MAIN);
});

test('a sharded checkpoint huggingface_hub snapshot_download fetches, crossrank loads offline', async (t) => {
  if (!available) return t.pass('skipped outside CI: no huggingface_hub');
  const cacheDir = join(work, 'sharded-from-python');
  await py(`print(json.dumps({'path': hh.snapshot_download('crossrank-test/sharded')}))`, cacheDir);
  const model = CrossEncoder.load('crossrank-test/sharded', { cacheDir, localFilesOnly: true });
  t.teardown(() => model.dispose());
  t.is(model.config.commit, MAIN);
  t.deepEqual(Array.from(model.predictSync(PAIRS, { activation: 'none' })), folderLogits());
});

test.serial('what crossrank downloads, huggingface_hub finds with HF_HUB_OFFLINE=1, and its cache scan finds sound', async (t) => {
  if (!available) return t.pass('skipped outside CI: no huggingface_hub');
  const cacheDir = join(work, 'from-crossrank');
  const model = await CrossEncoder.load('crossrank-test/tiny', { cacheDir }).ready;
  t.teardown(() => model.dispose());
  const tagged = await CrossEncoder.load('crossrank-test/tiny', { cacheDir, revision: 'v1' }).ready;
  t.teardown(() => tagged.dispose());
  const requestsBefore = hub.requests.length;
  const out = await py(
    `import hashlib
weights = hh.hf_hub_download('crossrank-test/tiny', 'model.safetensors')
snapshot = hh.snapshot_download('crossrank-test/tiny')
tagged = hh.hf_hub_download('crossrank-test/tiny', 'config.json', revision='v1')
info = hh.scan_cache_dir()
repo = [r for r in info.repos if r.repo_id == 'crossrank-test/tiny'][0]
print(json.dumps({
  'weights': weights, 'snapshot': snapshot, 'tagged': tagged,
  'sha256': hashlib.sha256(open(weights, 'rb').read()).hexdigest(),
  'warnings': [str(w) for w in info.warnings],
  'revisions': sorted([r.commit_hash, sorted(r.refs)] for r in repo.revisions),
  'size': repo.size_on_disk,
}))`,
    cacheDir,
    { HF_HUB_OFFLINE: '1' },
  );
  t.is(hub.requests.length, requestsBefore, 'Python asked the hub nothing');
  t.is(out['snapshot'], model.config.path);
  t.is(out['weights'], join(model.config.path, 'model.safetensors'));
  t.is(out['tagged'], join(tagged.config.path, 'config.json'));
  t.is(out['sha256'], sha256(TINY['model.safetensors']!));
  t.deepEqual(out['warnings'], []);
  t.deepEqual(out['revisions'], [[MAIN, ['main']], [TAGGED, ['v1']]].sort());
});
