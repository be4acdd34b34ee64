/**
 * Models by hub id, against a fake hub on 127.0.0.1 (test/helpers/fake-hub.ts):
 * the huggingface_hub cache layout, revisions, offline use, the hub's errors,
 * broken connections, checksums and two processes downloading at once.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder, HubError, type LoadOptions, ModelNotReadyError, SentenceEncoder } from '../lib/index.js';
import { commitOf, FakeHub, folderFiles, gitBlobSha1, sentenceRepoFiles, sha256 } from './helpers/fake-hub.js';
import { repoRoot, tinyDir } from './helpers/fixtures.js';
import { shardModel } from './helpers/safetensors.js';

const TINY = folderFiles(tinyDir);
const WEIGHTS = TINY['model.safetensors']!;
const V1 = commitOf('v1');
const V2 = commitOf('v2');
const withLabels = (labels: [string, string]): Buffer => {
  const config = JSON.parse(TINY['config.json']!.toString()) as Record<string, unknown>;
  config['id2label'] = { 0: labels[0], 1: labels[1] };
  config['label2id'] = { [labels[0]]: 0, [labels[1]]: 1 };
  return Buffer.from(JSON.stringify(config, null, 2));
};
const SENTENCE_FILES = sentenceRepoFiles(TINY, 'cls', 36);
const { 'model.safetensors': _single, ...TINY_WITHOUT_WEIGHTS } = TINY;
const SHARDED = { ...TINY_WITHOUT_WEIGHTS, ...shardModel(WEIGHTS, 2) };
const { 'model-00002-of-00002.safetensors': _lost, ...SHARD_MISSING } = SHARDED;
const TOKEN = 'hf_fake_token_for_tests';

const hub = await FakeHub.start({
  'crossrank-test/tiny': {
    commits: { [V1]: { ...TINY, 'config.json': withLabels(['no-v1', 'yes-v1']) }, [V2]: TINY },
    refs: { main: V2, v1: V1 },
  },
  'crossrank-test/offline': { commits: { [V2]: TINY }, refs: { main: V2 } },
  'crossrank-test/sentence': { commits: { [V1]: SENTENCE_FILES }, refs: { main: V1 } },
  'crossrank-test/gated': { commits: { [V1]: TINY }, refs: { main: V1 }, token: TOKEN },
  'crossrank-test/sharded': { commits: { [V1]: SHARDED }, refs: { main: V1 } },
  'crossrank-test/shard-missing': { commits: { [V1]: SHARD_MISSING }, refs: { main: V1 } },
  'crossrank-test/pickled': {
    commits: { [V1]: { 'config.json': TINY['config.json']!, 'vocab.txt': TINY['vocab.txt']!, 'pytorch_model.bin': Buffer.from('not really a pickle') } },
    refs: { main: V1 },
  },
});
// Every load in this file goes to the fake hub; each test has its own cache.
process.env['HF_ENDPOINT'] = hub.url;
delete process.env['HF_HUB_OFFLINE'];
delete process.env['HF_TOKEN'];
test.after.always(() => hub.stop());

const work = mkdtempSync(join(tmpdir(), 'crossrank-hub-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));
let caches = 0;
const newCache = (): string => join(work, `cache-${caches++}`);
const PAIRS: [string, string][] = [
  ['how do rerankers work', 'A reranker scores each passage against the query.'],
  ['capital of france', 'Paris is the capital of France.'],
];
const folderScores = async (): Promise<number[]> => {
  const model = CrossEncoder.load(tinyDir);
  const scores = Array.from(await model.predict(PAIRS, { activation: 'none' }));
  model.dispose();
  return scores;
};
const requestsFor = (id: string) => hub.requests.filter((r) => r.path.includes(id));

/** Runs test/helpers/hub-child.ts in its own process with this environment. */
function child(job: { id: string; options?: LoadOptions; download?: boolean; kind?: string }, env: Record<string, string | undefined> = {}) {
  return new Promise<Record<string, unknown> & { error?: { reason?: string; status?: number; message: string } }>((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import=tsx', join(repoRoot, 'test', 'helpers', 'hub-child.ts'), JSON.stringify({ ...job, pairs: PAIRS })], {
      env: { ...process.env, HF_ENDPOINT: hub.url, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    proc.stderr.on('data', (d: Buffer) => (err += d));
    proc.on('close', (status) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!));
      } catch {
        reject(new Error(`hub-child exited ${status}: ${out}${err}`));
      }
    });
  });
}

/** Every file under a folder, relative, links listed as links. */
function listTree(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listTree(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}

test('first download: the model waits for it, then scores as the folder does; the cache is laid out as huggingface_hub does', async (t) => {
  const cacheDir = newCache();
  const progress: { file: string; loaded: number; total: number | undefined }[] = [];
  const model = CrossEncoder.load('crossrank-test/tiny', { cacheDir, onProgress: (p) => progress.push(p) });
  t.teardown(() => model.dispose());
  t.throws(() => model.config, { instanceOf: ModelNotReadyError, message: /crossrank-test\/tiny is still downloading/ });
  t.throws(() => model.predictSync(PAIRS), { instanceOf: ModelNotReadyError });
  // An async call made before the download ends waits for it.
  const scores = Array.from(await model.predict(PAIRS, { activation: 'none' }));
  t.deepEqual(scores, await folderScores());
  t.is(await model.ready, model);
  t.is(model.config.name, 'crossrank-test/tiny');
  t.is(model.config.commit, V2);

  const repo = join(cacheDir, 'models--crossrank-test--tiny');
  t.is(model.config.path, join(repo, 'snapshots', V2));
  t.is(readFileSync(join(repo, 'refs', 'main'), 'utf8'), V2);
  t.deepEqual(listTree(join(repo, 'snapshots')).sort(), [`${V2}/config.json`, `${V2}/model.safetensors`, `${V2}/tokenizer_config.json`, `${V2}/vocab.txt`]);
  // Large files are named by their sha256, the others by their git blob id; snapshots link to them relatively.
  t.is(readlinkSync(join(repo, 'snapshots', V2, 'model.safetensors')), `../../blobs/${sha256(WEIGHTS)}`);
  t.is(readlinkSync(join(repo, 'snapshots', V2, 'vocab.txt')), `../../blobs/${gitBlobSha1(TINY['vocab.txt']!)}`);
  t.true(readFileSync(join(repo, 'blobs', sha256(WEIGHTS))).equals(WEIGHTS));
  t.false(listTree(repo).some((f) => f.endsWith('.incomplete')));
  const weightEvents = progress.filter((p) => p.file === 'model.safetensors');
  t.deepEqual(weightEvents.at(-1), { modelId: 'crossrank-test/tiny', file: 'model.safetensors', loaded: WEIGHTS.length, total: WEIGHTS.length });

  // Cached now: the next load is synchronous and asks the hub nothing.
  const before = hub.requests.length;
  const again = CrossEncoder.load('crossrank-test/tiny', { cacheDir });
  t.teardown(() => again.dispose());
  t.is(again.config.commit, V2);
  t.deepEqual(Array.from(again.predictSync(PAIRS, { activation: 'none' })), scores);
  t.is(hub.requests.length, before);
});

test('second load with the hub stopped: loads from the cache at once; an uncached id fails with a network error', async (t) => {
  const cacheDir = newCache();
  const own = await FakeHub.start({ 'crossrank-test/tiny': { commits: { [V2]: TINY }, refs: { main: V2 } } });
  const first = await child({ id: 'crossrank-test/tiny', options: { cacheDir } }, { HF_ENDPOINT: own.url });
  t.false(first['loadedAtOnce']);
  await own.stop();
  const second = await child({ id: 'crossrank-test/tiny', options: { cacheDir } }, { HF_ENDPOINT: own.url });
  t.true(second['loadedAtOnce'], JSON.stringify(second));
  t.deepEqual(second['scores'], await folderScores());
  t.is(second['commit'], V2);
  const missing = await child({ id: 'crossrank-test/other', options: { cacheDir } }, { HF_ENDPOINT: own.url });
  t.is(missing.error?.reason, 'network', JSON.stringify(missing));
  t.regex(missing.error!.message, /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
});

test('revision pinning: a tag, a commit hash and main each load their own commit, and refs/ records the names', async (t) => {
  const cacheDir = newCache();
  const byTag = await CrossEncoder.load('crossrank-test/tiny', { cacheDir, revision: 'v1' }).ready;
  t.teardown(() => byTag.dispose());
  t.is(byTag.config.commit, V1);
  t.deepEqual(byTag.config.id2label, { 0: 'no-v1', 1: 'yes-v1' });
  const byCommit = CrossEncoder.load('crossrank-test/tiny', { cacheDir, revision: V1 });
  t.teardown(() => byCommit.dispose());
  t.is(byCommit.config.commit, V1, 'the commit is cached already: loaded at once');
  const main = await CrossEncoder.load('crossrank-test/tiny', { cacheDir }).ready;
  t.teardown(() => main.dispose());
  t.is(main.config.commit, V2);
  t.deepEqual(main.config.id2label, { 0: 'irrelevant', 1: 'relevant' });
  const refs = join(cacheDir, 'models--crossrank-test--tiny', 'refs');
  t.deepEqual(readdirSync(refs).sort(), ['main', 'v1']);
  t.is(readFileSync(join(refs, 'v1'), 'utf8'), V1);
  // The weights are the same file in both commits: one blob.
  t.deepEqual(readdirSync(join(cacheDir, 'models--crossrank-test--tiny', 'blobs')).filter((b) => b === sha256(WEIGHTS)).length, 1);
  const unknown = CrossEncoder.load('crossrank-test/tiny', { cacheDir, revision: 'no-such-branch' });
  const error = await t.throwsAsync(unknown.ready, { instanceOf: HubError, message: /no revision "no-such-branch"/ });
  t.is(error?.reason, 'revision-not-found');
  t.is(error?.status, 404);
});

test('localFilesOnly: an uncached id fails at once without asking the hub; a cached one loads', async (t) => {
  const cacheDir = newCache();
  const before = requestsFor('crossrank-test/sentence').length;
  const error = t.throws(() => SentenceEncoder.load('crossrank-test/sentence', { cacheDir, localFilesOnly: true }), { instanceOf: HubError });
  t.is(error?.reason, 'not-cached');
  t.regex(error!.message, /not in the cache .* localFilesOnly is set: download it first .*crossrank download crossrank-test\/sentence/);
  t.is(requestsFor('crossrank-test/sentence').length, before);
  await SentenceEncoder.load('crossrank-test/sentence', { cacheDir }).ready.then((m) => m.dispose());
  const cached = SentenceEncoder.load('crossrank-test/sentence', { cacheDir, localFilesOnly: true });
  t.teardown(() => cached.dispose());
  t.is(cached.config.pooling, 'cls', 'the Pooling config named by modules.json came with it');
  t.is(cached.config.poolingSource, '1_Pooling/config.json');
  t.is(cached.config.maxLength, 32);
});

test('HF_HUB_OFFLINE=1: an uncached id fails without asking the hub; a cached one loads', async (t) => {
  const cacheDir = newCache();
  const before = requestsFor('crossrank-test/offline').length;
  const offline = await child({ id: 'crossrank-test/offline', options: { cacheDir } }, { HF_HUB_OFFLINE: '1' });
  t.is(offline.error?.reason, 'not-cached');
  t.regex(offline.error!.message, /HF_HUB_OFFLINE is set/);
  t.is(requestsFor('crossrank-test/offline').length, before, 'no request reached the hub');
  await child({ id: 'crossrank-test/offline', options: { cacheDir } });
  const cached = await child({ id: 'crossrank-test/offline', options: { cacheDir } }, { HF_HUB_OFFLINE: '1' });
  t.true(cached['loadedAtOnce']);
  t.deepEqual(cached['scores'], await folderScores());
  // HF_HOME/hub is the cache when no cacheDir is given.
  const home = join(work, 'hf-home');
  await child({ id: 'crossrank-test/offline' }, { HF_HOME: home, HF_HUB_CACHE: undefined });
  t.true(existsSync(join(home, 'hub', 'models--crossrank-test--offline', 'refs', 'main')));
});

test('a gated model: 401 without a token, 403 with a wrong one, loads with HF_TOKEN, the token file or options.token', async (t) => {
  const noToken = CrossEncoder.load('crossrank-test/gated', { cacheDir: newCache() });
  const e401 = await t.throwsAsync(noToken.ready, { instanceOf: HubError });
  t.is(e401?.status, 401);
  t.is(e401?.reason, 'unauthorized');
  t.regex(e401!.message, /gated or private\. Pass a token with access \(HF_TOKEN/);
  // Every later call reports the same error.
  await t.throwsAsync(noToken.predict(PAIRS), { is: e401 });
  t.throws(() => noToken.config, { is: e401 });

  const wrong = await t.throwsAsync(CrossEncoder.load('crossrank-test/gated', { cacheDir: newCache(), token: 'hf_wrong' }).ready, { instanceOf: HubError });
  t.is(wrong?.status, 403);
  t.regex(wrong!.message, /The token given has no access/);

  const good = await CrossEncoder.load('crossrank-test/gated', { cacheDir: newCache(), token: TOKEN }).ready;
  t.teardown(() => good.dispose());
  t.is(good.config.name, 'crossrank-test/gated');
  const fromEnv = await child({ id: 'crossrank-test/gated', options: { cacheDir: newCache() } }, { HF_TOKEN: TOKEN });
  t.is(fromEnv['name'], 'crossrank-test/gated', JSON.stringify(fromEnv));
  const home = join(work, 'token-home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'token'), `${TOKEN}\n`);
  const fromFile = await child({ id: 'crossrank-test/gated', options: { cacheDir: newCache() } }, { HF_HOME: home, HF_TOKEN: undefined });
  t.is(fromFile['name'], 'crossrank-test/gated', JSON.stringify(fromFile));
  // The token goes to the hub, never to the CDN the weights redirect to.
  t.true(hub.requests.some((r) => r.server === 'hub' && r.authorization === `Bearer ${TOKEN}`));
  t.false(hub.requests.some((r) => r.server === 'cdn' && r.authorization !== undefined));
});

test('404: a model the hub does not have, and no folder of that name', async (t) => {
  const error = await t.throwsAsync(CrossEncoder.load('crossrank-test/missing', { cacheDir: newCache() }).ready, { instanceOf: HubError });
  t.is(error?.reason, 'repo-not-found');
  t.regex(error!.message, /the hub has no model crossrank-test\/missing, or it is private .*; and there is no folder .*crossrank-test\/missing/);
  // A path that cannot be an id is a folder, as before.
  t.throws(() => CrossEncoder.load(join(work, 'nope')), { message: /model folder .*nope does not exist/ });
});

test.serial('500: the hub\'s error is reported with its status and nothing is cached', async (t) => {
  const cacheDir = newCache();
  hub.faults = { status: { match: /^\/api\/models\/crossrank-test\/sentence\//, status: 500, times: 1 } };
  t.teardown(() => (hub.faults = {}));
  const error = await t.throwsAsync(SentenceEncoder.load('crossrank-test/sentence', { cacheDir }).ready, { instanceOf: HubError });
  t.is(error?.status, 500);
  t.is(error?.reason, 'server');
  t.regex(error!.message, /answered HTTP 500 for the model info/);
  t.deepEqual(listTree(cacheDir), []);
});

test.serial('a connection cut mid-file resumes where it stopped, in the same load and in the next one', async (t) => {
  const cacheDir = newCache();
  const half = 1 << 20;
  hub.faults = { cut: { match: new RegExp(sha256(WEIGHTS)), afterBytes: half, times: 1 } };
  t.teardown(() => (hub.faults = {}));
  const before = hub.cdnGets(WEIGHTS).length;
  const model = await CrossEncoder.load('crossrank-test/tiny', { cacheDir, revision: 'v1' }).ready;
  t.teardown(() => model.dispose());
  const gets = hub.cdnGets(WEIGHTS).slice(before);
  t.is(gets.length, 2);
  t.is(gets[0]!.range, undefined);
  // It asks for the rest from what reached the disk (the cut may lose what was in flight).
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
  t.true(resumedAt > 0 && resumedAt <= half, gets[1]!.range);
  t.deepEqual(Array.from(await model.predict(PAIRS, { activation: 'none' })), await folderScores());

  // Cut more often than one load retries: it fails, keeps the .incomplete file, and the next load resumes it.
  const cacheDir2 = newCache();
  hub.faults = { cut: { match: new RegExp(sha256(WEIGHTS)), afterBytes: 300_000, times: 5 } };
  const failed = await t.throwsAsync(CrossEncoder.load('crossrank-test/tiny', { cacheDir: cacheDir2 }).ready, { instanceOf: HubError });
  t.is(failed?.reason, 'network');
  t.regex(failed!.message, /connection broke 5 times while downloading model.safetensors; run again to resume it/);
  const partial = join(cacheDir2, 'models--crossrank-test--tiny', 'blobs', `${sha256(WEIGHTS)}.incomplete`);
  const kept = lstatSync(partial).size;
  t.true(kept > 300_000 && kept <= 5 * 300_000, `${kept} bytes kept`);
  t.false(existsSync(join(cacheDir2, 'models--crossrank-test--tiny', 'snapshots')), 'a failed download is not a snapshot');
  hub.faults = {};
  const mark = hub.cdnGets(WEIGHTS).length;
  const resumed = await CrossEncoder.load('crossrank-test/tiny', { cacheDir: cacheDir2 }).ready;
  t.teardown(() => resumed.dispose());
  t.deepEqual(hub.cdnGets(WEIGHTS).slice(mark).map((g) => g.range), [`bytes=${kept}-`]);
  t.false(existsSync(partial));
});

test.serial('a checksum mismatch is refused and leaves nothing in the cache; the next load downloads cleanly', async (t) => {
  const cacheDir = newCache();
  hub.faults = { corrupt: new RegExp(sha256(WEIGHTS)) };
  t.teardown(() => (hub.faults = {}));
  const error = await t.throwsAsync(CrossEncoder.load('crossrank-test/tiny', { cacheDir }).ready, { instanceOf: HubError });
  t.is(error?.reason, 'checksum');
  t.regex(error!.message, new RegExp(`model.safetensors failed its checksum \\(its hash is [0-9a-f]{64}, the hub's etag ${sha256(WEIGHTS)}\\); nothing was kept`));
  // The weights come first, so nothing at all was written; only empty folders and the lock folder remain.
  t.deepEqual(listTree(cacheDir), []);
  hub.faults = {};
  const model = await CrossEncoder.load('crossrank-test/tiny', { cacheDir }).ready;
  t.teardown(() => model.dispose());
  t.deepEqual(Array.from(await model.predict(PAIRS, { activation: 'none' })), await folderScores());
});

test('a repository with only pytorch_model.bin is refused before any download, saying why', async (t) => {
  const cacheDir = newCache();
  const error = await t.throwsAsync(CrossEncoder.load('crossrank-test/pickled', { cacheDir }).ready, { instanceOf: HubError });
  t.is(error?.reason, 'unsupported');
  t.regex(error!.message, /no model\.safetensors \(only pytorch_model\.bin\), and nothing was downloaded\. crossrank never unpickles PyTorch files/);
  t.regex(error!.message, /safetensors conversion/);
  t.false(requestsFor('crossrank-test/pickled').some((r) => r.path.includes('/resolve/')));
  t.deepEqual(listTree(cacheDir), []);
});

test('a sharded checkpoint: the index and every shard it names are downloaded, and the model scores as the single file', async (t) => {
  const cacheDir = newCache();
  const model = await CrossEncoder.load('crossrank-test/sharded', { cacheDir }).ready;
  t.teardown(() => model.dispose());
  t.deepEqual(Array.from(await model.predict(PAIRS, { activation: 'none' })), await folderScores());
  const snapshot = join(cacheDir, 'models--crossrank-test--sharded', 'snapshots', V1);
  t.deepEqual(listTree(snapshot).sort(), [
    'config.json',
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
    'tokenizer_config.json',
    'vocab.txt',
  ]);
  // Cached: complete with every shard, so the next load asks the hub nothing (other tests share the hub).
  const before = requestsFor('crossrank-test/sharded').length;
  const again = CrossEncoder.load('crossrank-test/sharded', { cacheDir });
  t.teardown(() => again.dispose());
  t.deepEqual(Array.from(again.predictSync(PAIRS, { activation: 'none' })), await folderScores());
  t.is(requestsFor('crossrank-test/sharded').length, before);
  // A snapshot missing a shard is incomplete: offline, it is refused naming the shard.
  rmSync(join(snapshot, 'model-00002-of-00002.safetensors'));
  const offline = t.throws(() => CrossEncoder.load('crossrank-test/sharded', { cacheDir, localFilesOnly: true }), { instanceOf: HubError });
  t.regex(offline!.message, /is in the cache .* without model-00002-of-00002\.safetensors: only part of it was downloaded/);
});

test('an index naming a shard the repository lacks is refused, and no snapshot is made', async (t) => {
  const cacheDir = newCache();
  const error = await t.throwsAsync(CrossEncoder.load('crossrank-test/shard-missing', { cacheDir }).ready, { instanceOf: HubError });
  t.is(error?.reason, 'unsupported');
  t.regex(error!.message, /model\.safetensors\.index\.json names model-00002-of-00002\.safetensors, which the repository does not have/);
  t.deepEqual(listTree(join(cacheDir, 'models--crossrank-test--shard-missing', 'snapshots')), []);
});

test.serial('two processes downloading the same model at once: one fetches the weights, both load them', async (t) => {
  const cacheDir = newCache();
  hub.faults = { slowMs: 10 };
  t.teardown(() => (hub.faults = {}));
  const before = hub.cdnGets(WEIGHTS).length;
  const [a, b] = await Promise.all([
    child({ id: 'crossrank-test/tiny', options: { cacheDir } }),
    child({ id: 'crossrank-test/tiny', options: { cacheDir } }),
  ]);
  t.is(a['commit'], V2, JSON.stringify(a));
  t.is(b['commit'], V2, JSON.stringify(b));
  const scores = await folderScores();
  t.deepEqual(a['scores'], scores);
  t.deepEqual(b['scores'], scores);
  t.is(hub.cdnGets(WEIGHTS).length - before, 1, 'the weights were downloaded once');
  t.deepEqual(readdirSync(join(cacheDir, '.locks', 'models--crossrank-test--tiny')), [], 'the locks are released');
});

test('a folder that exists wins over an id spelt the same', async (t) => {
  const dir = join(work, 'cwd');
  mkdirSync(join(dir, 'crossrank-test'), { recursive: true });
  for (const [name, data] of Object.entries(TINY)) {
    mkdirSync(join(dir, 'crossrank-test', 'tiny'), { recursive: true });
    writeFileSync(join(dir, 'crossrank-test', 'tiny', name), data);
  }
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const before = requestsFor('crossrank-test/tiny').length;
    const model = CrossEncoder.load('crossrank-test/tiny', { cacheDir: newCache() });
    t.teardown(() => model.dispose());
    t.is(model.config.path, join(dir, 'crossrank-test', 'tiny'));
    t.is(model.config.name, 'tiny');
    t.is(model.config.commit, undefined);
    t.is(requestsFor('crossrank-test/tiny').length, before);
  } finally {
    process.chdir(cwd);
  }
});

test('disposed while downloading: the model is freed when it arrives and calls throw DisposedError', async (t) => {
  const model = CrossEncoder.load('crossrank-test/tiny', { cacheDir: newCache() });
  model.dispose();
  await model.ready;
  await t.throwsAsync(model.predict(PAIRS), { message: /disposed/ });
});

test('load options for the hub are checked', (t) => {
  t.throws(() => CrossEncoder.load('crossrank-test/tiny', { revision: '' }), { instanceOf: TypeError, message: /options\.revision must be/ });
  t.throws(() => CrossEncoder.load('crossrank-test/tiny', { localFilesOnly: 'yes' as never }), { instanceOf: TypeError, message: /localFilesOnly must be a boolean/ });
  t.throws(() => CrossEncoder.load('crossrank-test/tiny', { onProgress: 3 as never }), { instanceOf: TypeError, message: /onProgress must be a function/ });
  t.throws(() => SentenceEncoder.load('crossrank-test/tiny', { cacheDir: '' }), { instanceOf: TypeError, message: /cacheDir must be/ });
});
