/** The command line with hub ids, against the fake hub: download, and --model ID in rank, search, serve, score, quantize. */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { offlineModelPath } from '../lib/index.js';
import { commitOf, FakeHub, folderFiles, sentenceRepoFiles } from './helpers/fake-hub.js';
import { repoRoot, tinyDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
const examples = join(repoRoot, 'examples', 'passages.txt');
const COMMIT = commitOf('cli');
const SENTENCE = sentenceRepoFiles(folderFiles(tinyDir), 'mean', 36);

const hub = await FakeHub.start({
  // rank and serve need a one-label model: the repository's offline reranker.
  'crossrank-test/reranker': { commits: { [COMMIT]: folderFiles(offlineModelPath()) }, refs: { main: COMMIT } },
  'crossrank-test/sentence': { commits: { [COMMIT]: SENTENCE }, refs: { main: COMMIT } },
  'crossrank-test/pickled': {
    commits: { [COMMIT]: { 'config.json': Buffer.from('{}'), 'pytorch_model.bin': Buffer.from('x') } },
    refs: { main: COMMIT },
  },
});
test.after.always(() => hub.stop());
const work = mkdtempSync(join(tmpdir(), 'crossrank-hub-cli-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(work, 'cache'), HF_HUB_OFFLINE: '' };

test.serial('download ID prints the snapshot folder and its progress; a second run finds it cached', async (t) => {
  const first = await run('node', [cli, 'download', 'crossrank-test/reranker'], { env });
  t.is(first.stdout.trim(), join(work, 'cache', 'models--crossrank-test--reranker', 'snapshots', COMMIT));
  t.regex(first.stderr, /crossrank: downloading crossrank-test\/reranker: model\.safetensors [\d.]+ MB \/ 24\.1 MB, done/);
  t.regex(first.stderr, new RegExp(`at commit ${COMMIT}: downloaded model.safetensors, config.json, tokenizer.json`));
  const second = await run('node', [cli, 'download', 'crossrank-test/reranker', '--revision', 'main'], { env });
  t.is(second.stdout, first.stdout);
  t.regex(second.stderr, /all files were already cached/);
});

test('download refuses a pytorch_model.bin-only repository and an unknown revision, exit 1', async (t) => {
  const pickled = await t.throwsAsync(run('node', [cli, 'download', 'crossrank-test/pickled'], { env }));
  t.is((pickled as { code?: number }).code, 1);
  t.regex((pickled as { stderr?: string }).stderr ?? '', /crossrank never unpickles PyTorch files/);
  const revision = await t.throwsAsync(run('node', [cli, 'download', 'crossrank-test/reranker', '--revision', 'nope'], { env }));
  t.regex((revision as { stderr?: string }).stderr ?? '', /no revision "nope"/);
  const usage = await t.throwsAsync(run('node', [cli, 'download'], { env }));
  t.is((usage as { code?: number }).code, 2);
});

test('rank and score take --model ID from the cache with HF_HUB_OFFLINE=1; quantize takes an ID', async (t) => {
  await run('node', [cli, 'download', 'crossrank-test/reranker'], { env });
  const offline = { ...env, HF_HUB_OFFLINE: '1' };
  const { stdout } = await run('node', [cli, 'rank', '--model', 'crossrank-test/reranker', '--query', 'how do rerankers work', '--docs', examples, '--json'], { env: offline });
  const ranked = JSON.parse(stdout) as { results: { score: number }[] };
  const byFolder = JSON.parse(
    (await run('node', [cli, 'rank', '--model', offlineModelPath(), '--query', 'how do rerankers work', '--docs', examples, '--json'])).stdout,
  ) as { results: { score: number }[] };
  t.deepEqual(ranked.results, byFolder.results);

  const input = join(work, 'pairs.jsonl');
  writeFileSync(input, '["how do rerankers work", "A reranker reorders passages."]\n');
  const output = join(work, 'scores.jsonl');
  await run('node', [cli, 'score', '--model', 'crossrank-test/reranker', '--input', input, '--output', output], { env: offline });
  t.is(readFileSync(output, 'utf8').trim().split('\n').length, 1);

  // quantize needs an fp32 model: the tiny one, downloaded by quantize itself.
  const out = join(work, 'quantized');
  await run('node', [cli, 'quantize', 'crossrank-test/sentence', out], { env });
  t.true(existsSync(join(out, 'model.safetensors')));
});

test('search takes hub ids for --encoder and --model and names them in its summary', async (t) => {
  const { stdout } = await run(
    'node',
    [cli, 'search', '--encoder', 'crossrank-test/sentence', '--model', 'crossrank-test/reranker', '--query', 'how do rerankers work', '--docs', examples, '--retrieve-k', '3'],
    { env },
  );
  t.regex(stdout, /models loaded in [\d.]+ ms: crossrank-test\/sentence, crossrank-test\/reranker int8/);
});

test('serve --model ID reports the id as its model name', async (t) => {
  const server = spawn('node', [cli, 'serve', '--model', 'crossrank-test/reranker', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => server.kill('SIGKILL'));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout.on('data', (d: Buffer) => {
      out += d;
      const match = /listening on (http:\/\/\S+) \(model (\S+),/.exec(out);
      if (match) resolve(match[1]!);
    });
    server.on('close', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  t.regex(out, /\(model crossrank-test\/reranker,/);
  const info = (await (await fetch(`${url}/info`)).json()) as { model_id: string; model_path: string };
  t.is(info.model_id, 'crossrank-test/reranker');
  t.true(info.model_path.endsWith(join('snapshots', COMMIT)));
  const reranked = (await (
    await fetch(`${url}/v1/rerank`, { method: 'POST', body: JSON.stringify({ query: 'q', documents: ['a', 'b'] }), headers: { 'content-type': 'application/json' } })
  ).json()) as { model: string };
  t.is(reranked.model, 'crossrank-test/reranker');
});

test('loading a folder or a cached id never imports the downloader (lib/hub/download.ts)', async (t) => {
  await run('node', [cli, 'download', 'crossrank-test/sentence'], { env });
  // A module hook in the child reports every module it loads.
  const hooks = join(work, 'hooks.mjs');
  writeFileSync(hooks, "export async function load(url, context, next) { process.stderr.write(`loaded ${url}\\n`); return next(url, context); }\n");
  const script = join(work, 'load.mjs');
  writeFileSync(
    script,
    `import { register } from 'node:module';
register(${JSON.stringify(`file://${hooks}`)});
const { CrossEncoder, SentenceEncoder } = await import(${JSON.stringify(join(repoRoot, 'dist', 'lib', 'index.js'))});
CrossEncoder.load(${JSON.stringify(tinyDir)}).dispose();
SentenceEncoder.load('crossrank-test/sentence').dispose();
`,
  );
  const { stderr } = await run('node', [script], { env: { ...env, HF_ENDPOINT: 'http://127.0.0.1:1' } });
  t.regex(stderr, /dist\/lib\/hub\/resolve\.js/, 'the hook sees the modules');
  t.notRegex(stderr, /dist\/lib\/hub\/download\.js/);
  // And a download does import it (the check can fail).
  const downloading = await run('node', [script], {
    env: { ...env, HF_HUB_CACHE: join(work, 'fresh-cache') },
  }).catch((error: { stderr: string }) => error);
  t.regex(downloading.stderr, /dist\/lib\/hub\/download\.js/);
});
