/** The rerank HTTP server over loopback: every endpoint's shape, every limit and failure, and batching across requests. */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder } from '../lib/index.js';
import { minilmAvailable, minilmDir, repoRoot, sharedDataAvailable, tinyDir } from './helpers/fixtures.js';
import { metric, startServer, until } from './helpers/server.js';
import { trecPairs } from './helpers/trec.js';

const haveFixtures = minilmAvailable() && sharedDataAvailable();
const serial = haveFixtures ? test.serial : test.skip;

// One model for the whole file; each test starts the servers it needs on port 0.
const minilm = haveFixtures ? CrossEncoder.load(minilmDir) : undefined;
const tiny = CrossEncoder.load(tinyDir);
test.after.always(() => {
  minilm?.dispose();
  tiny.dispose();
});

const start = startServer;

async function post(base: string, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

const pairsFrom = (start: number, count: number): [string, string][] => trecPairs().slice(start, start + count);

serial('TEI /rerank: sorted [{index, score, text?}], sigmoid scores, raw_scores gives logits', async (t) => {
  const { base } = await start(t, minilm!);
  const pairs = pairsFrom(0, 12);
  const [query] = pairs[0]!;
  const texts = pairs.map(([, text]) => text);
  const expected = await minilm!.predict(pairs);
  const logits = await minilm!.predict(pairs, { activation: 'none' });

  const response = await post(base, '/rerank', { query, texts, return_text: true });
  t.is(response.status, 200);
  const ranks = (await response.json()) as { index: number; score: number; text: string }[];
  t.deepEqual(ranks.map((r) => r.index).sort((a, b) => a - b), texts.map((_, i) => i));
  for (let i = 1; i < ranks.length; i++) t.true(ranks[i - 1]!.score >= ranks[i]!.score, 'sorted best first');
  for (const r of ranks) {
    t.is(r.score, expected[r.index]!, `score of text ${r.index}`);
    t.is(r.text, texts[r.index]!);
  }

  const raw = (await (await post(base, '/rerank', { query, texts, raw_scores: true })).json()) as { index: number; score: number; text?: string }[];
  for (const r of raw) {
    t.is(r.score, logits[r.index]!, `raw score of text ${r.index}`);
    t.false('text' in r);
  }
});

serial('Cohere/Jina /v1/rerank: strings or {text} documents, top_n, return_documents, model and usage', async (t) => {
  const { base } = await start(t, minilm!, { modelName: 'ms-marco-test' });
  const pairs = pairsFrom(100, 10);
  const [query] = pairs[0]!;
  const documents = pairs.map(([, text], i) => (i % 2 === 0 ? text : { text }));
  const expected = await minilm!.predict(pairs);
  const tokens = minilm!.tokenize(pairs).lengths.reduce((a, b) => a + b, 0);

  const response = await post(base, '/v1/rerank', { model: 'anything', query, documents, top_n: 3, return_documents: true });
  t.is(response.status, 200);
  const body = (await response.json()) as {
    id: string;
    model: string;
    usage: { total_tokens: number };
    results: { index: number; relevance_score: number; document?: { text: string } }[];
  };
  t.is(typeof body.id, 'string');
  t.is(body.model, 'ms-marco-test');
  t.is(body.usage.total_tokens, tokens);
  const best = Array.from(expected.keys()).sort((a, b) => expected[b]! - expected[a]!).slice(0, 3);
  t.deepEqual(body.results.map((r) => r.index), best);
  for (const r of body.results) {
    t.is(r.relevance_score, expected[r.index]!);
    t.deepEqual(r.document, { text: pairs[r.index]![1] });
  }

  const plain = (await (await post(base, '/v1/rerank', { query, documents })).json()) as typeof body;
  t.is(plain.results.length, documents.length, 'no top_n: every document');
  t.false(plain.results.some((r) => 'document' in r), 'return_documents defaults to false');
});

serial('/predict: raw pairs, one score per pair, or one row per pair for a several-label model', async (t) => {
  const one = await start(t, minilm!);
  const pairs = pairsFrom(200, 5);
  const response = (await (await post(one.base, '/predict', { pairs })).json()) as { scores: number[]; usage: { total_tokens: number } };
  t.deepEqual(Float32Array.from(response.scores), await minilm!.predict(pairs));
  t.true(response.usage.total_tokens > 0);
  const logits = (await (await post(one.base, '/predict', { pairs, activation: 'none' })).json()) as { scores: number[] };
  t.deepEqual(Float32Array.from(logits.scores), await minilm!.predict(pairs, { activation: 'none' }));

  const two = await start(t, tiny);
  const tinyPairs: [string, string][] = [['a question', 'an answer'], ['bm25', 'a ranking function']];
  const rows = (await (await post(two.base, '/predict', { pairs: tinyPairs })).json()) as { scores: number[][] };
  t.deepEqual(Float32Array.from(rows.scores.flat()), await tiny.predict(tinyPairs));
  t.is(rows.scores.length, 2);
  const rerank = await post(two.base, '/rerank', { query: 'q', texts: ['a'] });
  t.is(rerank.status, 400);
  t.regex(((await rerank.json()) as { error: string }).error, /one output label; this one has 2/);
});

serial('concurrent requests share engine batches and each gets exactly the scores it would get alone', async (t) => {
  // This test is about coalescing, not overload: budgets wide enough that a slow (sanitizer) build is never refused.
  const { base } = await start(t, minilm!, { requestTimeoutMs: 600_000, maxQueueMs: 600_000 });
  const requests = Array.from({ length: 8 }, (_, i) => pairsFrom(300 + i * 37, 3 + ((i * 5) % 11)));
  const alone: Float32Array[] = [];
  for (const pairs of requests) alone.push(await minilm!.predict(pairs));
  const batchesBefore = await metric(base, 'crossrank_batch_pairs_count');
  const answers = await Promise.all(requests.map(async (pairs) => (await (await post(base, '/predict', { pairs })).json()) as { scores: number[] }));
  const batches = (await metric(base, 'crossrank_batch_pairs_count')) - batchesBefore;
  answers.forEach((answer, i) => t.deepEqual(Float32Array.from(answer.scores), alone[i]!, `request ${i}: bit-identical`));
  t.log(`8 concurrent requests ran in ${batches} engine batches`);
  t.true(batches < requests.length, `coalescing: ${batches} batches for ${requests.length} requests`);

  // The comparison mode never mixes requests.
  const single = await start(t, minilm!, { coalesce: false, requestTimeoutMs: 600_000, maxQueueMs: 600_000 });
  const separate = await Promise.all(requests.map(async (pairs) => (await (await post(single.base, '/predict', { pairs })).json()) as { scores: number[] }));
  separate.forEach((answer, i) => t.deepEqual(Float32Array.from(answer.scores), alone[i]!));
  t.true((await metric(single.base, 'crossrank_batch_pairs_count')) >= requests.length);
});

serial('/health, /info and /metrics', async (t) => {
  const { base } = await start(t, minilm!);
  t.deepEqual(await (await fetch(`${base}/health`)).json(), { status: 'ok' });
  const info = (await (await fetch(`${base}/info`)).json()) as Record<string, unknown>;
  t.is(info['model_dtype'], minilm!.config.dtype);
  t.is(info['weights_file_dtype'], minilm!.config.weightsDtype);
  t.is(info['max_input_length'], minilm!.config.maxLength);
  t.is(typeof (info['kernels'] as Record<string, string>)['gemm'], 'string');
  t.is(info['threads'], minilm!.threads);

  await post(base, '/predict', { pairs: pairsFrom(0, 4) });
  await post(base, '/predict', '{');
  const response = await fetch(`${base}/metrics`);
  t.regex(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  t.regex(text, /^crossrank_requests_total\{endpoint="\/predict",code="200"\} 1$/m);
  t.regex(text, /^crossrank_requests_total\{endpoint="\/predict",code="400"\} 1$/m);
  t.regex(text, /^crossrank_pairs_total 4$/m);
  t.regex(text, /^# TYPE crossrank_queue_wait_seconds histogram$/m);
  t.regex(text, /^crossrank_batch_compute_seconds_bucket\{le="\+Inf"\} 1$/m);
  t.regex(text, /^crossrank_batch_tokens_count 1$/m);
  t.regex(text, /^crossrank_request_duration_seconds_count\{endpoint="\/predict"\} 2$/m);
  t.regex(text, /^crossrank_queued_pairs 0$/m);
  // The process beside the engine.
  const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
  t.true(rss > 50e6 && rss < 8e9, `RSS ${rss}`);
  t.regex(text, /^# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total \d+(\.\d+)?$/m);
  t.true(Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]) > 0);
  t.regex(text, /^crossrank_event_loop_delay_seconds\{quantile="0\.99"\} \d/m);
  t.regex(text, /^crossrank_event_loop_delay_seconds_max \d/m);
  t.regex(text, /^crossrank_open_connections [1-9]/m);
});

serial('malformed requests get 400 naming the field, unknown paths 404, wrong methods 405', async (t) => {
  const { base } = await start(t, minilm!);
  const cases: [string, unknown, RegExp][] = [
    ['/rerank', '{"query": "q", "texts": [', /not valid JSON/],
    ['/rerank', '', /not valid JSON/],
    ['/rerank', [1, 2], /body must be a JSON object, got an array/],
    ['/rerank', { texts: ['a'] }, /missing field `query`/],
    ['/rerank', { query: 3, texts: ['a'] }, /`query` must be a string, got number 3/],
    ['/rerank', { query: 'q', texts: 'a' }, /`texts` must be an array, got a string/],
    ['/rerank', { query: 'q', texts: ['a', 7] }, /`texts\[1\]` must be a string/],
    ['/rerank', { query: 'q', texts: ['a'], raw_scores: 'yes' }, /`raw_scores` must be a boolean/],
    ['/rerank', { query: 'q', texts: ['a'], truncate: 1 }, /`truncate` must be a boolean/],
    ['/rerank', { query: 'q', texts: ['a'], truncation_direction: 'Up' }, /`truncation_direction` must be "Right" or "Left"/],
    ['/rerank', { query: 'q', texts: ['a'], truncation_direction: 'Left' }, /"Left" is not supported/],
    ['/v1/rerank', { query: 'q' }, /missing field `documents`/],
    ['/v1/rerank', { query: 'q', documents: [{ title: 'x' }] }, /`documents\[0\]\.text` must be a string, got nothing/],
    ['/v1/rerank', { query: 'q', documents: [null] }, /`documents\[0\]` must be a string or an object/],
    ['/v1/rerank', { query: 'q', documents: ['a'], top_n: 0 }, /`top_n` must be a positive integer/],
    ['/v1/rerank', { query: 'q', documents: ['a'], top_n: 1.5 }, /`top_n` must be a positive integer/],
    ['/v1/rerank', { query: 'q', documents: ['a'], model: 5 }, /`model` must be a string/],
    ['/v1/rerank', { query: 'q', documents: ['a'], return_documents: 'true' }, /`return_documents` must be a boolean/],
    ['/predict', { pairs: [['a']] }, /`pairs\[0\]` must be an array of two strings/],
    ['/predict', { pairs: [['a', null]] }, /`pairs\[0\]\[1\]` must be a string, got null/],
    ['/predict', { pairs: [['a', 'b']], activation: 'relu' }, /`activation` must be one of/],
  ];
  for (const [path, body, message] of cases) {
    const response = await post(base, path, body);
    t.is(response.status, 400, `${path} ${JSON.stringify(body)}`);
    const error = (await response.json()) as { error: string; error_type: string };
    t.regex(error.error, message);
    t.is(error.error_type, 'validation');
  }
  const missing = await fetch(`${base}/nope`);
  t.is(missing.status, 404);
  const wrongMethod = await fetch(`${base}/rerank`);
  t.is(wrongMethod.status, 405);
  t.is(wrongMethod.headers.get('allow'), 'POST');
  t.is((await post(base, '/health', {})).status, 405);
  t.is((await fetch(`${base}/health`)).status, 200, 'still serving');
});

serial('limits: body size, documents, tokens and over-long texts get 413 with a JSON error', async (t) => {
  const { base } = await start(t, minilm!, { maxBodyBytes: 4096, maxDocuments: 5, maxRequestTokens: 60 });
  const bodyTooLarge = await post(base, '/rerank', { query: 'q', texts: ['x'.repeat(5000)] });
  t.is(bodyTooLarge.status, 413);
  t.regex(((await bodyTooLarge.json()) as { error: string }).error, /body exceeds 4096 bytes/);

  // The same without a Content-Length: the limit holds on the bytes read.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = httpRequest(`${base}/rerank`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    request.on('error', reject);
    for (let i = 0; i < 10; i++) request.write('x'.repeat(1000));
    request.end();
  });
  t.is(chunked.status, 413);
  t.regex(chunked.body, /body exceeds 4096 bytes/);

  // Cohere's routes answer 400 where others answer 413 (Cohere's SDKs know no 413).
  const tooMany = await post(base, '/v1/rerank', { query: 'q', documents: ['a', 'b', 'c', 'd', 'e', 'f'] });
  t.is(tooMany.status, 400);
  t.regex(((await tooMany.json()) as { error: string }).error, /`documents` holds 6 items; this server accepts at most 5/);

  const tooManyTokens = await post(base, '/predict', { pairs: [['q', 'word '.repeat(70)]] });
  t.is(tooManyTokens.status, 413);
  t.regex(((await tooManyTokens.json()) as { error: string }).error, /holds \d+ tokens; this server accepts at most 60/);

  const strict = await start(t, minilm!, { autoTruncate: false });
  const long = 'word '.repeat(600);
  const refused = await post(strict.base, '/rerank', { query: 'q', texts: ['short', long] });
  t.is(refused.status, 413);
  t.regex(((await refused.json()) as { error: string }).error, /`texts\[1\]` is longer than the model's 512 tokens and truncate is false/);
  const truncated = await post(strict.base, '/rerank', { query: 'q', texts: ['short', long], truncate: true });
  t.is(truncated.status, 200);
  const fits = (await (await post(strict.base, '/rerank', { query: 'q', texts: ['short', 'word '.repeat(500)], raw_scores: true })).json()) as {
    index: number;
    score: number;
  }[];
  const expected = await minilm!.predict([['q', 'short'], ['q', 'word '.repeat(500)]], { activation: 'none' });
  for (const r of fits) t.is(r.score, expected[r.index]!, 'a pair just within the limit is encoded as with truncation');
});

serial('a queue at its pair bound answers 429 with Retry-After', async (t) => {
  // Budgets far above the work (a sanitizer build is slow), so that the pair bound is what refuses.
  const { base } = await start(t, minilm!, { maxQueuedPairs: 100, maxDocuments: 100, maxBatchTokens: 256, requestTimeoutMs: 600_000, maxQueueMs: 600_000 });
  const big = post(base, '/predict', { pairs: pairsFrom(0, 100) });
  await until(async () => (await metric(base, 'crossrank_queued_pairs')) > 0, 'the first request to be queued');
  const refused = await post(base, '/predict', { pairs: pairsFrom(200, 100) });
  t.is(refused.status, 429);
  t.regex(refused.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  t.regex(((await refused.json()) as { error: string }).error, /server is overloaded: the queue holds \d+ pairs; 100 more would exceed its bound of 100/);
  t.is((await big).status, 200, 'the queued request is still answered');
});

serial('a request over its timeout gets 504 and its queued work is dropped', async (t) => {
  const { base } = await start(t, minilm!, { requestTimeoutMs: 300, maxBatchTokens: 256 });
  const response = await post(base, '/predict', { pairs: pairsFrom(0, 400) });
  t.is(response.status, 504);
  t.regex(((await response.json()) as { error: string }).error, /not answered within 300 ms/);
  t.is(await metric(base, 'crossrank_requests_dropped_total{reason="timeout"}'), 1);
  t.is(await metric(base, 'crossrank_queued_pairs'), 0);
  const computed = await metric(base, 'crossrank_batch_pairs_sum');
  t.true(computed < 400, `only ${computed} of 400 pairs reached the engine`);
});

serial('a client that disconnects has its queued pairs dropped', async (t) => {
  const { base } = await start(t, minilm!, { maxBatchTokens: 256 });
  const abort = new AbortController();
  const abandoned = post(base, '/predict', { pairs: pairsFrom(0, 400) }, { signal: abort.signal });
  await until(async () => (await metric(base, 'crossrank_queued_pairs')) > 0, 'the request to be queued');
  abort.abort();
  await abandoned.then(
    () => t.fail('the aborted request was answered'),
    (error: Error) => t.is(error.name, 'AbortError'),
  );
  await until(async () => (await metric(base, 'crossrank_requests_dropped_total{reason="disconnect"}')) === 1, 'the drop');
  t.is(await metric(base, 'crossrank_requests_total{endpoint="/predict",code="499"}'), 1);
  t.is(await metric(base, 'crossrank_queued_pairs'), 0);
  const computed = await metric(base, 'crossrank_batch_pairs_sum');
  t.true(computed < 400, `only ${computed} of 400 pairs reached the engine`);
  t.is((await post(base, '/predict', { pairs: pairsFrom(0, 2) })).status, 200, 'still serving');
});

serial('no input crashes the server: random bodies, odd JSON, broken HTTP', async (t) => {
  const { base } = await start(t, minilm!, { maxBodyBytes: 64 * 1024 });
  let seed = 12345;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  t.log(`random bodies from seed 12345`);
  const odd: unknown[] = [
    'null', 'true', '"text"', '1e999', '{"query": "q", "texts": []}', '{"query": "", "texts": [""]}',
    '{"query": "q", "documents": [], "top_n": 5}', '{"pairs": []}', '{"__proto__": {"query": "q"}, "texts": ["a"]}',
    `{"query": "q", "texts": ${'['.repeat(5000)}${']'.repeat(5000)}}`, '{"query": "\\ud800", "texts": ["\\udfff\\u0000"]}',
  ];
  for (let i = 0; i < 40; i++) {
    odd.push(Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
  }
  for (const path of ['/rerank', '/v1/rerank', '/predict']) {
    for (const body of odd) {
      const response = await fetch(`${base}${path}`, { method: 'POST', body: body as string });
      t.true([200, 400, 413].includes(response.status), `${path} answered ${response.status}: ${await response.text()}`);
    }
  }
  const raw = (text: string): Promise<string> =>
    new Promise((resolve) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => socket.end(text));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
    });
  // Not HTTP at all: Node answers 400 and closes the connection.
  t.regex(await raw('GARBAGE \x00\x01 HTTP/9\r\n\r\n'), /^HTTP\/1\.1 400/);
  // Request targets that name Object.prototype members are unknown paths like any other.
  for (const target of ['constructor', '__proto__', '*', '/v1/rerank/../predict']) {
    t.regex(await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 (404|400)/, target);
  }
  t.is((await fetch(`${base}/health`)).status, 200);
});

serial('SIGTERM stops accepting, answers the request in flight, then exits 0', async (t) => {
  const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
  const child = spawn('node', [cli, 'serve', '--model', minilmDir, '--port', '0', '--max-batch-tokens', '256'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', () => reject(new Error(`server exited early: ${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const pairs = pairsFrom(0, 60);
  const inFlight = post(base, '/predict', { pairs });
  await until(async () => (await metric(base, 'crossrank_queued_pairs')) > 0, 'the request to be queued');
  child.kill('SIGTERM');
  const response = await inFlight;
  t.is(response.status, 200);
  t.deepEqual(Float32Array.from(((await response.json()) as { scores: number[] }).scores), await minilm!.predict(pairs));
  t.is(await exited, 0, stderr);
  t.regex(stderr, /SIGTERM: answering the requests in flight/);
  await t.throwsAsync(fetch(`${base}/health`), undefined, 'no longer accepting');
});
