/**
 * The server under hostile or heavy traffic, on loopback: bounded shutdown with
 * silent clients, cheap refusal when the queue-time budget is spent, reaping
 * and capping connections, bytes that are not UTF-8, Expect: 100-continue,
 * and what /info says of an int8 folder. Every wait here is bounded.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import test from 'ava';

import { CrossEncoder } from '../lib/index.js';
import { offlineModelPath } from '../lib/default-model.js';
import { RerankServer } from '../lib/server/server.js';
import { firstInvalidUtf8 } from '../lib/server/text.js';
import { minilmAvailable, minilmDir, repoRoot, sharedDataAvailable } from './helpers/fixtures.js';
import { metric, startServer, until } from './helpers/server.js';
import { trecPairs } from './helpers/trec.js';

const haveFixtures = minilmAvailable() && sharedDataAvailable();
const serial = haveFixtures ? test.serial : test.skip;
const minilm = haveFixtures ? CrossEncoder.load(minilmDir) : undefined;
test.after.always(() => minilm?.dispose());

const start = startServer;
const pairsFrom = (start: number, count: number): [string, string][] => trecPairs().slice(start, start + count);

/** A raw connection that records what it receives and when it closes. */
interface Raw {
  socket: Socket;
  received(): string;
  closed: Promise<number>;
}

async function rawConnect(port: number): Promise<Raw> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => performance.now());
  await once(socket, 'connect');
  return { socket, received: () => data, closed };
}

const postHead = (length: number, extra = ''): string =>
  `POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

serial('close() drops silent and idle connections at once, answers the request in progress, and cuts the rest at the drain deadline', async (t) => {
  // Long enough for the request in flight to finish under ASan on a busy 2-core machine.
  const drainMs = 15_000;
  const server = new RerankServer(minilm!, { maxBatchTokens: 256, drainTimeoutMs: drainMs });
  const port = await server.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  const silent = await Promise.all(Array.from({ length: 5 }, () => rawConnect(port)));
  // A keep-alive connection that has finished its request, and one trickling its headers.
  const idle = await rawConnect(port);
  idle.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => idle.received().includes('"ok"'), 'the idle connection to be answered');
  const trickle = await rawConnect(port);
  trickle.socket.write('POST /rerank HTTP/1.1\r\nHost: x\r\n');
  // A body that will never be complete: a request in progress that cannot finish.
  const stuck = await rawConnect(port);
  stuck.socket.write(postHead(1000) + '{"query": ');
  const pairs = pairsFrom(0, 16);
  const inFlight = fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pairs }) });
  await until(() => /^crossrank_queued_pairs [1-9]/m.test(server.metrics.render()), 'the request to be queued');

  const stopAt = performance.now();
  const closed = server.close().then(() => performance.now());
  const silentClosed = await Promise.all([...silent, idle, trickle].map((c) => c.closed));
  for (const at of silentClosed) t.true(at - stopAt < 500, `a connection without a request closed after ${(at - stopAt).toFixed(0)} ms`);
  const response = await inFlight;
  t.is(response.status, 200);
  t.deepEqual(Float32Array.from(((await response.json()) as { scores: number[] }).scores), await minilm!.predict(pairs));
  const stoppedAt = await closed;
  t.log(`close() resolved after ${(stoppedAt - stopAt).toFixed(0)} ms with a body stuck mid-way (drain deadline ${drainMs} ms)`);
  t.true(stoppedAt - stopAt >= drainMs - 100, 'the stuck request had until the deadline');
  t.true(stoppedAt - stopAt < drainMs + 1500, `close() resolved after ${(stoppedAt - stopAt).toFixed(0)} ms`);
  t.true((await stuck.closed) - stopAt < drainMs + 1500);
});

serial('SIGTERM with a silent client connected: the CLI answers its request in flight and exits within the drain time', async (t) => {
  const cli = join(repoRoot, 'dist', 'lib', 'cli.js');
  const child = spawn('node', [cli, 'serve', '--model', minilmDir, '--port', '0', '--max-batch-tokens', '256', '--drain-timeout-ms', '15000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', () => reject(new Error(`server exited early: ${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const silent = await rawConnect(port);
  const pairs = pairsFrom(0, 20);
  const inFlight = fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pairs }) });
  await until(async () => (await metric(base, 'crossrank_queued_pairs')) > 0, 'the request to be queued');
  const killedAt = performance.now();
  child.kill('SIGTERM');
  const response = await inFlight;
  const answeredAt = performance.now();
  t.is(response.status, 200);
  t.is(await exited, 0, stderr);
  const exitedAt = performance.now();
  t.log(
    `answered ${((answeredAt - killedAt) / 1000).toFixed(2)} s after SIGTERM, exited ${((exitedAt - killedAt) / 1000).toFixed(2)} s after ` +
      '(a silent client connected, drain deadline 15 s)',
  );
  // The silent client does not hold the exit: it follows the last answer, not the deadline.
  t.true(exitedAt - answeredAt < 2000, `exit ${(exitedAt - answeredAt).toFixed(0)} ms after the last answer`);
  t.true((await silent.closed) - killedAt < 1000, 'the silent client was closed at once');
  t.regex(stdout, /POST \/predict 200 pairs=20 ms=\d+\.\d/, 'the request log line');
});

serial('over the queue-time budget a request gets 429 and Retry-After before its body is read', async (t) => {
  // A long timeout: on a slow, shared machine the 400 pairs may take well over 30 s.
  const { base, port } = await start(t, minilm!, { maxBatchTokens: 256, maxQueueMs: 400, requestTimeoutMs: 180_000 });
  const big = fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pairs: pairsFrom(0, 400) }) });
  await until(async () => (await metric(base, 'crossrank_queued_pairs')) > 0, 'the first request to be queued');
  // Refused at the same moment, clients are told to come back one after another, not all at once.
  const retryAfters: number[] = [];
  for (let i = 0; i < 3; i++) {
    const next = await rawConnect(port);
    next.socket.write(postHead(100_000));
    await until(() => next.received().includes('\r\n\r\n{'), 'the refusal');
    retryAfters.push(Number(/\r\nRetry-After: (\d+)\r\n/i.exec(next.received())?.[1]));
    next.socket.destroy();
  }
  t.log(`Retry-After of three refusals in a row: ${retryAfters.join(', ')} s`);
  // Each is told after the room the ones before it take (~25,000 tokens each), up to the 60 s cap.
  const [first, second, third] = retryAfters as [number, number, number];
  t.true(first >= 1 && second >= first && third >= second && third <= 60, `Retry-After ${retryAfters.join(', ')}`);
  t.true(third > first || first === 60, `Retry-After ${retryAfters.join(', ')}: later refusals are told later, unless capped`);
  // Headers only, declaring 200 kB: the refusal cannot depend on a body never sent.
  const raw = await rawConnect(port);
  raw.socket.write(postHead(200_000));
  await until(() => raw.received().includes('\r\n\r\n{'), 'the refusal');
  t.regex(raw.received(), /^HTTP\/1\.1 429 /);
  t.regex(raw.received(), /\r\nRetry-After: [1-9]\d*\r\n/i);
  t.regex(raw.received(), /queue budget/);
  raw.socket.destroy();
  // A small request sized after tokenising is refused too while the queue is long.
  const refused = await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pairs: pairsFrom(500, 100) }) });
  t.is(refused.status, 429);
  t.is(((await refused.json()) as { error_type: string }).error_type, 'overloaded');
  t.is((await big).status, 200, 'the queued request is still answered');
  t.true((await metric(base, 'crossrank_requests_dropped_total{reason="overloaded"}')) >= 2);
});

/** POSTs on a keep-alive agent (one socket, so each request reuses the last one's connection). */
function post(agent: Agent, port: number, body: string): Promise<{ status: number; retryAfter: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/predict', method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: Number(res.headers['retry-after'] ?? 0), ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

serial('a request sent again on its connection before its Retry-After is held until then, and let go at shutdown', async (t) => {
  // Long timeout and drain: the queued 400 pairs must still be answered after close(), however slow the
  // machine (an instrumented build takes minutes).
  const { server, base, port } = await start(t, minilm!, {
    maxBatchTokens: 256,
    maxQueueMs: 1500,
    requestTimeoutMs: 180_000,
    drainTimeoutMs: 180_000,
  });
  const big = fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pairs: pairsFrom(0, 400) }) });
  await until(async () => (await metric(base, 'crossrank_queued_pairs')) > 0, 'the first request to be queued');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const body = JSON.stringify({ pairs: pairsFrom(500, 100) });
  const first = await post(agent, port, body);
  t.is(first.status, 429);
  t.true(first.retryAfter >= 1);
  // Sent again at once, as a load generator that ignores Retry-After does: held for
  // the Retry-After it was given, at most maxQueueMs (1.5 s), before it is looked at.
  const again = await post(agent, port, body);
  t.log(`second request answered ${again.status} after ${again.ms.toFixed(0)} ms (Retry-After ${first.retryAfter} s, hold at most 1500 ms)`);
  t.true(again.ms >= Math.min(1000 * first.retryAfter, 1500) - 50, `answered after ${again.ms.toFixed(0)} ms`);
  t.is(await metric(base, 'crossrank_requests_held_total'), 1);
  t.is(again.status, 429, 'the 400 pairs ahead still fill the queue');
  // Held again, then the server stops: the held request is answered 503 at once, the queued one 200.
  const third = post(agent, port, body);
  await until(async () => (await metric(base, 'crossrank_requests_held_total')) === 2, 'the third request to be held');
  const closing = server.close();
  t.is((await third).status, 503);
  t.is((await big).status, 200);
  await closing;
});

serial('under 48 concurrent requests every answer is 200 or 429, none times out', async (t) => {
  const { base } = await start(t, minilm!, { requestTimeoutMs: 5000, maxQueueMs: 1500 });
  const outcomes = await Promise.all(
    Array.from({ length: 48 }, async (_, i) => {
      const pairs = pairsFrom(i * 40, 40);
      const response = await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ pairs }) });
      if (response.status === 200) {
        t.deepEqual(Float32Array.from(((await response.json()) as { scores: number[] }).scores), await minilm!.predict(pairs));
      } else {
        await response.arrayBuffer();
      }
      return response.status;
    }),
  );
  const count = (status: number): number => outcomes.filter((s) => s === status).length;
  t.log(`200: ${count(200)}, 429: ${count(429)}, other: ${outcomes.length - count(200) - count(429)}`);
  t.is(count(200) + count(429), outcomes.length, `statuses: ${outcomes.join(',')}`);
  t.true(count(200) > 0);
  t.true(count(429) > 0, '48 x 40 pairs is more than 1.5 s of work on this machine');
});

serial('silent connections are reaped after the headers timeout; at the connection cap idle ones make room and busy ones mean a 503', async (t) => {
  const { base, port } = await start(t, minilm!, { headersTimeoutMs: 1000, maxConnections: 8 });
  const openedAt = performance.now();
  const silent = await Promise.all(Array.from({ length: 8 }, () => rawConnect(port)));
  // At the cap, /health still answers: the oldest silent connection makes room.
  t.is((await fetch(`${base}/health`, { headers: { Connection: 'close' } })).status, 200);
  const closedAt = await Promise.all(silent.map((c) => c.closed));
  const slowest = Math.max(...closedAt) - openedAt;
  t.log(`8 silent connections closed within ${slowest.toFixed(0)} ms (headers timeout 1000 ms, checked every 1000 ms)`);
  t.true(slowest < 3500, `slowest close after ${slowest.toFixed(0)} ms`);

  // Eight connections, each in a request whose body never comes, fill the cap.
  const busy = await Promise.all(Array.from({ length: 8 }, () => rawConnect(port)));
  for (const c of busy) c.socket.write(postHead(100) + '{');
  // (Nothing can be asked of the server now: every connection it allows is busy.)
  await new Promise((resolve) => setTimeout(resolve, 300));
  const refused = await rawConnect(port);
  refused.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await refused.closed;
  t.regex(refused.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  t.regex(refused.received(), /8 connections open, each with a request in progress/);
  for (const c of busy) c.socket.destroy();
  await until(async () => {
    try {
      return (await fetch(`${base}/health`)).status === 200;
    } catch {
      return false;
    }
  }, 'service after the busy connections left');
  t.true((await metric(base, 'crossrank_connections_refused_total')) >= 1);
});

serial('a body that is not UTF-8 gets 400 naming the byte offset', async (t) => {
  const { base } = await start(t, minilm!);
  const body = Buffer.concat([Buffer.from('{"query": "q", "documents": ["ok", "caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"]}')]);
  const response = await fetch(`${base}/v1/rerank`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  t.is(response.status, 400);
  const error = ((await response.json()) as { error: string }).error;
  t.is(error, 'the request body is not valid UTF-8: invalid byte 0x28 at offset 40');
  const lone = await fetch(`${base}/rerank`, { method: 'POST', body: Buffer.from([0x7b, 0xff, 0x7d]) });
  t.is(((await lone.json()) as { error: string }).error, 'the request body is not valid UTF-8: invalid byte 0xff at offset 1');
});

test('firstInvalidUtf8 agrees with the platform decoder and points at the first bad byte', (t) => {
  const cases: [number[], number][] = [
    [[0x61, 0x62], -1],
    [[0xe2, 0x82, 0xac], -1], // €
    [[0xf0, 0x9f, 0x98, 0x80], -1], // 😀
    [[0x61, 0x80], 1], // a lone continuation byte
    [[0xc0, 0xaf], 0], // overlong '/'
    [[0xe0, 0x80, 0xaf], 1], // overlong, caught at its second byte
    [[0xed, 0xa0, 0x80], 1], // a surrogate
    [[0xf4, 0x90, 0x80, 0x80], 1], // past U+10FFFF
    [[0x61, 0xe2, 0x82], 1], // cut short by the end
    [[0xe2, 0x41, 0x82], 1],
    [[0xff], 0],
  ];
  for (const [bytes, offset] of cases) t.is(firstInvalidUtf8(Uint8Array.from(bytes)), offset, `${bytes.map((b) => b.toString(16))}`);
  // stream: a sequence cut short by the end of `bytes` is not an error (more may follow).
  const valid = (bytes: Uint8Array, stream = false): boolean => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream });
      return true;
    } catch {
      return false;
    }
  };
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let n = 0; n < 3000; n++) {
    // Mostly valid text with a few random bytes, so that both outcomes are common.
    const text = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 12) }, () => String.fromCodePoint(Math.floor(random() * 0x1ffff) % 0x10ffff)).join('').replace(/[\ud800-\udfff]/g, 'x'));
    const bytes = Uint8Array.from(text);
    if (random() < 0.5) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const at = firstInvalidUtf8(bytes);
    t.is(at === -1, valid(bytes), `validity of ${Buffer.from(bytes).toString('hex')}`);
    // The offset is exact: everything before it can still be UTF-8, and the byte at it
    // cannot, unless it starts a sequence cut short by the end of the bytes.
    if (at >= 0) {
      t.true(valid(bytes.subarray(0, at), true), `the bytes before offset ${at} are a valid start`);
      const cutShort = valid(bytes, true);
      t.is(valid(bytes.subarray(0, at + 1), true), cutShort, `the byte at offset ${at} is the first bad one`);
    }
  }
});

serial('Expect: 100-continue with a body declared over the limit gets 413 at once, within the limit 100 Continue', async (t) => {
  const { port } = await start(t, minilm!, { maxBodyBytes: 4096 });
  const over = await rawConnect(port);
  over.socket.write(postHead(5_000_000, 'Expect: 100-continue\r\n'));
  await until(() => over.received().includes('\r\n\r\n{'), 'the answer');
  t.regex(over.received(), /^HTTP\/1\.1 413 /);
  t.notRegex(over.received(), /100 Continue/);
  over.socket.destroy();

  const body = JSON.stringify({ query: 'q', texts: ['a', 'b'] });
  const within = await rawConnect(port);
  within.socket.write(postHead(Buffer.byteLength(body), 'Expect: 100-continue\r\n'));
  await until(() => within.received().includes('100 Continue'), '100 Continue');
  t.regex(within.received(), /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  within.socket.write(body);
  await until(() => within.received().includes(']'), 'the answer');
  t.regex(within.received(), /HTTP\/1\.1 200 OK/);
  within.socket.destroy();
});

test('/info gives the int8 folder weights_file_dtype I8, an fp32 folder F32', async (t) => {
  const int8 = CrossEncoder.load(offlineModelPath());
  t.teardown(() => int8.dispose());
  const { base } = await start(t, int8);
  const info = (await (await fetch(`${base}/info`)).json()) as Record<string, unknown>;
  t.is(info['weights_file_dtype'], 'I8');
  t.is(info['model_dtype'], 'int8');
  if (!minilm) return;
  const fp32 = await start(t, minilm);
  t.is(((await (await fetch(`${fp32.base}/info`)).json()) as Record<string, unknown>)['weights_file_dtype'], 'F32');
});

serial('keep-alive: by default an idle connection outlives Node\'s 5 s (65 s, above load balancers\' 60 s); a set timeout closes it', async (t) => {
  const defaults = await start(t, minilm!);
  const info = (await (await fetch(`${defaults.base}/info`)).json()) as Record<string, unknown>;
  t.is(info['keep_alive_timeout_ms'], 65_000);
  t.is(info['drain_timeout_ms'], 20_000);
  t.is(info['headers_timeout_ms'], 5_000);
  const kept = await rawConnect(defaults.port);
  kept.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => kept.received().includes('"ok"'), 'the answer');
  t.regex(kept.received(), /Keep-Alive: timeout=65/);
  await new Promise((resolve) => setTimeout(resolve, 6500));
  t.false(kept.socket.destroyed, 'still open after 6.5 s idle');
  kept.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await kept.closed;
  t.is(kept.received().match(/HTTP\/1\.1 200/g)?.length, 2, 'the second request on it was answered');

  const short = await start(t, minilm!, { keepAliveTimeoutMs: 1000 });
  const idle = await rawConnect(short.port);
  idle.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => idle.received().includes('"ok"'), 'the answer');
  const answeredAt = performance.now();
  const closedAt = await idle.closed;
  t.true(closedAt - answeredAt >= 900 && closedAt - answeredAt < 3000, `closed ${(closedAt - answeredAt).toFixed(0)} ms after going idle`);
});

serial('a client still sending a body over the limit reads its 413: the body is drained for a moment, not reset', async (t) => {
  const { base, port } = await start(t, minilm!, { maxBodyBytes: 4096 });
  const statuses = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const c = await rawConnect(port);
      c.socket.write(postHead(5_000_000));
      c.socket.write(Buffer.alloc(5_000_000, 0x61));
      await Promise.race([c.closed, until(() => c.received().includes('\r\n\r\n'), 'the answer')]);
      c.socket.destroy();
      return /^HTTP\/1\.1 (\d+)/.exec(c.received())?.[1] ?? 'reset before the answer';
    }),
  );
  t.deepEqual(statuses, Array(10).fill('413'));
  t.is((await fetch(`${base}/health`)).status, 200);
});
