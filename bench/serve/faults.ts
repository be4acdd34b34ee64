/**
 * `crossrank serve` with its default limits, on loopback: the load table
 * (1, 16, 64, 256 keep-alive connections of 50-document TEI /rerank
 * requests, each level for --seconds, clients honouring Retry-After, then 256
 * that ignore it; 200, 429 and 504 counted apart) against in-process
 * predict on the same pairs, then faults: a flood of silent sockets,
 * 2,000 idle keep-alive connections, a 50 MB body, and SIGTERM under load.
 * Prints Markdown for the README's Reliability section.
 *
 *   npx tsx bench/serve/faults.ts [--seconds 40] [--flood 15000] [--threads 2] [--levels 1,16,64,256,256!]
 *                                 [--load-only | --faults-only]
 * (a level "N!" is N connections that ignore Retry-After)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { CrossEncoder } from '../../lib/index.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = join(process.env['CROSSRANK_SHARED_DATA'] ?? join(REPO, '..', 'shared', 'data'), 'trec-dl20', 'retrieve_results_dl20.json');
const MODEL = join(REPO, '.cache', 'models', 'minilm-l6-cross-encoder');
const CLI = join(REPO, 'dist', 'lib', 'cli.js');
const DOCUMENTS = 50;

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const seconds = arg('seconds', 40);
const flood = arg('flood', 15000);
const threads = arg('threads', 2);

const entries = JSON.parse(readFileSync(DATA, 'utf8')) as { query: string; hits: { content: string }[] }[];
const requests = entries.map((e) => ({ query: e.query, texts: e.hits.slice(0, DOCUMENTS).map((h) => h.content) }));
const bodies = requests.map((r) => JSON.stringify(r));

function startServer(extra: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('node', [CLI, 'serve', '--model', MODEL, '--port', '0', '--threads', String(threads), '--no-request-log', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

const stop = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
};

async function health(port: number): Promise<{ status: number | string; ms: number }> {
  const started = performance.now();
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) });
    await response.text();
    return { status: response.status, ms: performance.now() - started };
  } catch (error) {
    return { status: (error as Error).name, ms: performance.now() - started };
  }
}

interface Level {
  connections: number;
  /** From the server's /metrics over the window: engine milliseconds per pair (rises when refusals steal its CPU). */
  engineMsPerPair: number;
  ok: number;
  overloaded: number;
  timedOut: number;
  other: number;
  pairsPerSecond: number;
  p50: number;
  p99: number;
}

/** One POST on a keep-alive agent: its status, Retry-After and time. */
function send(agent: Agent, port: number, body: string): Promise<{ status: number; retryAfter: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      { port, host: '127.0.0.1', path: '/rerank', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 0), ms: performance.now() - started }),
        );
      },
    );
    req.on('error', () => resolve({ status: -1, retryAfter: 0, ms: performance.now() - started }));
    req.end(body);
  });
}

/**
 * `connections` closed-loop clients for `seconds`; a client told 429 waits
 * Retry-After seconds before sending again (as the Cohere SDK and LiteLLM
 * retry), or not at all with `ignoreRetryAfter` (as autocannon does).
 * Only answers that arrive within the window count.
 */
/** The engine's totals so far: pairs scored and seconds computing (the _sum of two /metrics histograms). */
async function engineTotals(port: number): Promise<{ pairs: number; seconds: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // A histogram with no observation yet has no _sum line.
  const sum = (name: string): number => Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { pairs: sum('crossrank_batch_pairs'), seconds: sum('crossrank_batch_compute_seconds') };
}

async function level(port: number, connections: number, ignoreRetryAfter = false): Promise<Level> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const before = await engineTotals(port);
  const counts = new Map<number, number>();
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const answer = await send(agent, port, bodies[next++ % bodies.length]!);
        if (performance.now() > end) break;
        counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
        if (answer.status === 200) latencies.push(answer.ms);
        if (answer.status === 429 && !ignoreRetryAfter) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(answer.retryAfter * 1000, Math.max(0, end - performance.now()))));
        }
      }
    }),
  );
  // The engine's totals at the window's end, before the requests still in flight are answered.
  const after = await engineTotals(port);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const ok = counts.get(200) ?? 0;
  const overloaded = counts.get(429) ?? 0;
  const timedOut = counts.get(504) ?? 0;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    connections,
    engineMsPerPair: (1000 * (after.seconds - before.seconds)) / (after.pairs - before.pairs),
    ok,
    overloaded,
    timedOut,
    other: total - ok - overloaded - timedOut,
    pairsPerSecond: (ok * DOCUMENTS) / seconds,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? NaN,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
  };
}

/** Sockets openSilent has seen connect. */
let silentConnected = 0;

async function openSilent(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, () =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          // Reading, so that the server's 408 and close are seen.
          socket.resume();
          socket.on('error', () => resolve());
          socket.on('connect', () => {
            silentConnected++;
            resolve();
          });
          sockets.push(socket);
        }),
      ),
    );
  }
  return sockets;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    console.log(line);
  };
  say(`CPU: ${cpus()[0]?.model} x ${cpus().length}, ${threads} engine threads, ${DOCUMENTS}-document TEI /rerank requests, ${seconds} s per level, default limits`);

  const model = CrossEncoder.load(MODEL, { threads });
  const pairs = requests.slice(0, 20).flatMap((r) => r.texts.map((t): [string, string] => [r.query, t]));
  await model.predict(pairs.slice(0, 50));
  const inStart = performance.now();
  await model.predict(pairs);
  const inProcess = pairs.length / ((performance.now() - inStart) / 1000);
  model.dispose();
  say(`in-process predict on ${pairs.length} of the same pairs: ${inProcess.toFixed(1)} pairs/s`);

  const { child, port } = await startServer();
  say('');
  say('| connections | 200 | 429 | 504 | other | pairs/s (200s) | vs in-process | engine ms/pair | p50 ms | p99 ms |');
  say('|---|---|---|---|---|---|---|---|---|---|');
  const levelsAt = process.argv.indexOf('--levels');
  const chosen = levelsAt > 0 ? process.argv[levelsAt + 1]!.split(',') : ['1', '16', '64', '256', '256!'];
  // "256!": 256 connections that ignore Retry-After.
  const rows: [number, boolean][] = process.argv.includes('--faults-only') ? [] : chosen.map((l) => [parseInt(l, 10), l.endsWith('!')]);
  for (const [connections, ignoreRetryAfter] of rows) {
    const r = await level(port, connections, ignoreRetryAfter);
    say(
      `| ${connections}${ignoreRetryAfter ? ' (Retry-After ignored)' : ''} | ${r.ok} | ${r.overloaded} | ${r.timedOut} | ${r.other} | ${r.pairsPerSecond.toFixed(1)} | ` +
        `${((100 * r.pairsPerSecond) / inProcess).toFixed(0)} % | ${r.engineMsPerPair.toFixed(2)} | ` +
        `${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} |`,
    );
  }

  if (process.argv.includes('--load-only')) {
    await stop(child);
    return;
  }
  say('');
  const floodStart = performance.now();
  const silent = await openSilent(port, flood);
  const connected = silentConnected;
  const during = await health(port);
  const open = /^crossrank_open_connections (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1];
  say(
    `flood: ${connected} silent sockets connected in ${((performance.now() - floodStart) / 1000).toFixed(1)} s ` +
      `(the first already reaped by then); ${open} connections open at the end; /health: ${during.status} in ${during.ms.toFixed(0)} ms`,
  );
  const floodAt = performance.now();
  while (silent.some((s) => !s.destroyed) && performance.now() - floodAt < 30_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const left = silent.filter((s) => !s.destroyed).length;
  say(`flood: ${left} still open ${((performance.now() - floodAt) / 1000).toFixed(1)} s later (headers timeout 5 s); /health after: ${(await health(port)).status}`);
  for (const s of silent) s.destroy();

  const agent = new Agent({ keepAlive: true, maxSockets: 2000 });
  await Promise.all(
    Array.from({ length: 2000 }, () =>
      new Promise<void>((resolve) => {
        const req = request({ port, host: '127.0.0.1', path: '/health', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', () => resolve());
        req.end();
      }),
    ),
  );
  const idle = await health(port);
  say(`2,000 idle keep-alive connections held: /health ${idle.status} in ${idle.ms.toFixed(0)} ms`);
  agent.destroy();

  // 50 MB sent without waiting: the answer comes from the declared length, before the body.
  const big = await new Promise<string>((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n\r\n')) resolve(`${/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1]} in ${(performance.now() - started).toFixed(0)} ms`);
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(`closed without an answer after ${(performance.now() - started).toFixed(0)} ms`));
    socket.write(`POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`);
    socket.write(Buffer.alloc(50 * 1024 * 1024, 0x61));
  });
  say(`50 MB body: ${big}`);

  // Trickling, one byte every 200 ms: the headers, then (headers sent at once) the body.
  const trickle = async (atOnce: string, slowly: string): Promise<string> => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.on('error', () => {});
    const started = performance.now();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(atOnce);
    let i = 0;
    const timer = setInterval(() => (i < slowly.length && !socket.destroyed ? socket.write(slowly[i++]!) : undefined), 200);
    await closed;
    clearInterval(timer);
    return `${/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 'closed without an answer'} after ${((performance.now() - started) / 1000).toFixed(1)} s`;
  };
  const body = bodies[0]!;
  const head = `POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const [headerTrickle, bodyTrickle] = await Promise.all([trickle('', head), trickle(head, body)]);
  say(`header trickle (1 byte / 200 ms): ${headerTrickle} (headers timeout 5 s)`);
  say(`body trickle (1 byte / 200 ms): ${bodyTrickle} (request timeout 30 s)`);

  // 100 clients that send a whole request, then leave 200 ms later.
  await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      new Promise<void>((resolve) => {
        const c = connect(port, '127.0.0.1');
        c.on('error', () => {});
        const b = bodies[i % bodies.length]!;
        c.write(`POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`);
        setTimeout(() => {
          c.destroy();
          resolve();
        }, 200);
      }),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const series = (pattern: RegExp): string =>
    metricsText
      .split('\n')
      .filter((line) => pattern.test(line))
      .map((line) => line.replace(/^crossrank_/, ''))
      .join(', ');
  say(
    `100 clients leaving 200 ms after sending (totals since start): ${series(/^crossrank_requests_total\{endpoint="\/rerank"/)}; ` +
      `${series(/^crossrank_requests_dropped_total/)}; queued pairs now ${series(/^crossrank_queued_pairs /)}; /health ${(await health(port)).status}`,
  );

  const invalid = await fetch(`http://127.0.0.1:${port}/rerank`, { method: 'POST', body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]) });
  say(`invalid UTF-8: ${invalid.status} ${JSON.stringify(((await invalid.json()) as { error: string }).error)}`);

  // After all of it, an answer identical to in-process predict.
  const check = requests[3]!;
  const reference = CrossEncoder.load(MODEL, { threads: 1 });
  const expected = await reference.predict(check.texts.map((t): [string, string] => [check.query, t]));
  reference.dispose();
  const ranked = (await (await fetch(`http://127.0.0.1:${port}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(check) })).json()) as { index: number; score: number }[];
  say(`after the faults: /rerank scores equal to in-process predict: ${ranked.length === expected.length && ranked.every((r) => r.score === expected[r.index])}`);

  // SIGTERM under load: 64 connections sending, plus one silent socket.
  const counts = new Map<number | string, number>();
  const [quiet] = await openSilent(port, 1);
  const senders = Array.from({ length: 64 }, async (_, i) => {
    for (let n = 0; ; n++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[(i * 7 + n) % bodies.length] });
        await response.arrayBuffer();
        counts.set(response.status, (counts.get(response.status) ?? 0) + 1);
      } catch (error) {
        // ECONNREFUSED once the server stopped listening; anything else would be a cut request.
        const code = String((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name);
        counts.set(code, (counts.get(code) ?? 0) + 1);
        return;
      }
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const termAt = performance.now();
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const exitSeconds = (performance.now() - termAt) / 1000;
  await Promise.all(senders);
  quiet?.destroy();
  say(`SIGTERM under load (64 connections + 1 silent): exit code ${code} after ${exitSeconds.toFixed(2)} s (drain deadline 20 s); answers: ${JSON.stringify(Object.fromEntries(counts))}`);
  await stop(child);
}

await main();
