/**
 * Load test of `crossrank serve` on loopback: autocannon sends TEI /rerank
 * requests of 20-100 TREC DL 2020 passages (one query each) with 1, 8 and 64
 * concurrent clients, against the server with dynamic batching on and off.
 * Each run is bounded by a request count and a time limit. Writes
 * bench/results/serve-MIN-MAX-BUDGET.{json,md} and prints the Markdown table.
 *
 *   npx tsx bench/serve/run.ts [--clients 1,8,64] [--requests 10,16,64] [--max-seconds 420] [--threads 2]
 *                              [--documents 20-100] [--modes on,off] [--max-batch-tokens 4096]
 *
 * --requests gives the request count of each client setting (the run also stops
 * at --max-seconds). --documents MIN-MAX sets the request sizes (e.g. 1-5 to see
 * what batching does for many small requests). --modes sets which servers run
 * and in what order (batching on, off), to check that the order does not decide
 * the comparison on a busy machine. Every client waits for its answer before sending again
 * (a closed loop), so at 64 clients latency is mostly time spent queued.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESULTS = join(REPO, 'bench', 'results');
const DATA = join(REPO, '..', 'shared', 'data', 'trec-dl20', 'retrieve_results_dl20.json');
const MODEL = join(REPO, '.cache', 'models', 'minilm-l6-cross-encoder');
const CLI = join(REPO, 'dist', 'lib', 'cli.js');

interface Options {
  clients: number[];
  requests: number[];
  maxSeconds: number;
  threads: number;
  minDocuments: number;
  maxDocuments: number;
  modes: boolean[];
  maxBatchTokens: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { clients: [1, 8, 64], requests: [10, 16, 64], maxSeconds: 420, threads: 2, minDocuments: 20, maxDocuments: 100, modes: [true, false], maxBatchTokens: 4096 };
  const list = (text: string): number[] => text.split(',').map(Number);
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${argv[i]} needs a value`);
    if (argv[i] === '--clients') options.clients = list(value);
    else if (argv[i] === '--requests') options.requests = list(value);
    else if (argv[i] === '--max-seconds') options.maxSeconds = Number(value);
    else if (argv[i] === '--threads') options.threads = Number(value);
    else if (argv[i] === '--max-batch-tokens') options.maxBatchTokens = Number(value);
    else if (argv[i] === '--modes') options.modes = value.split(',').map((mode) => mode === 'on');
    else if (argv[i] === '--documents') [options.minDocuments, options.maxDocuments] = value.split('-').map(Number) as [number, number];
    else throw new Error(`unknown option ${argv[i]} (see the header of bench/serve/run.ts)`);
  }
  if (options.clients.length !== options.requests.length) throw new Error('--clients and --requests need as many values');
  const { minDocuments: min, maxDocuments: max } = options;
  if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && min <= max && max <= 100)) {
    throw new Error(`--documents must be MIN-MAX with 1 <= MIN <= MAX <= 100, got ${min}-${max}`);
  }
  return options;
}

/** One TEI request per TREC query, min to max of its BM25 passages (sizes spread evenly, fixed). */
function requestBodies(min: number, max: number): { bodies: string[]; meanDocuments: number } {
  const entries = JSON.parse(readFileSync(DATA, 'utf8')) as { query: string; hits: { content: string }[] }[];
  let documents = 0;
  const bodies = entries.map((entry, i) => {
    const count = min + ((i * 37) % (max - min + 1));
    documents += count;
    return JSON.stringify({ query: entry.query, texts: entry.hits.slice(0, count).map((hit) => hit.content) });
  });
  return { bodies, meanDocuments: documents / bodies.length };
}

interface Server {
  port: number;
  stop(): Promise<void>;
}

async function startServer(batching: boolean, options: Options): Promise<Server> {
  const args = [CLI, 'serve', '--model', MODEL, '--port', '0', '--threads', String(options.threads), '--max-batch-tokens', String(options.maxBatchTokens), '--timeout-ms', '600000', '--max-queued-pairs', '16384'];
  if (!batching) args.push('--no-batching');
  const child = spawn('node', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`crossrank serve exited with ${code}`)));
  });
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Row {
  batching: boolean;
  clients: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  pairsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
}

/** crossrank_pairs_total from the server's /metrics. */
async function pairsScored(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^crossrank_pairs_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

async function load(port: number, clients: number, amount: number, maxSeconds: number, bodies: string[]): Promise<Omit<Row, 'batching'>> {
  let next = 0;
  const latencies: number[] = [];
  const pairsBefore = await pairsScored(port);
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: clients,
        amount,
        timeout: maxSeconds,
        requests: [
          {
            method: 'POST',
            path: '/rerank',
            headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length]! }),
          },
        ],
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (status === 200) latencies.push(responseTime);
    });
    // autocannon ignores its duration when given an amount; this bounds the run in time too.
    const timer = setTimeout(() => instance.stop(), maxSeconds * 1000);
    instance.once('done', () => clearTimeout(timer));
  });
  const seconds = (performance.now() - started) / 1000;
  const pairs = (await pairsScored(port)) - pairsBefore;
  latencies.sort((a, b) => a - b);
  return {
    clients,
    requests: latencies.length,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    pairsPerSecond: pairs / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { bodies, meanDocuments } = requestBodies(options.minDocuments, options.maxDocuments);
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtStart: loadavg() };
  console.log(`${bodies.length} request bodies, ${meanDocuments.toFixed(1)} documents on average; load average ${machine.loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}`);
  const rows: Row[] = [];
  for (const batching of options.modes) {
    const server = await startServer(batching, options);
    try {
      // Warm-up: one request, not timed.
      await fetch(`http://127.0.0.1:${server.port}/rerank`, { method: 'POST', body: bodies[0], headers: { 'content-type': 'application/json' } });
      for (const [i, clients] of options.clients.entries()) {
        const row = { batching, ...(await load(server.port, clients, options.requests[i]!, options.maxSeconds, bodies)) };
        console.log(JSON.stringify(row));
        rows.push(row);
      }
    } finally {
      await server.stop();
    }
  }

  const ms = (v: number): string => v.toFixed(0);
  const lines = [
    `| clients | batching | requests | req/s | pairs/s | p50 ms | p95 ms | p99 ms | errors |`,
    `|---:|---|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.clients} | ${r.batching ? 'on' : 'off'} | ${r.requests} | ${r.requestsPerSecond.toFixed(2)} | ${r.pairsPerSecond.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${r.errors} |`,
    ),
  ];
  for (const clients of options.clients) {
    const on = rows.find((r) => r.clients === clients && r.batching);
    const off = rows.find((r) => r.clients === clients && !r.batching);
    if (on && off) lines.push('', `${clients} clients: batching gives ${(on.requestsPerSecond / off.requestsPerSecond).toFixed(2)}x the req/s of one request at a time`);
  }
  const table = lines.join('\n');
  mkdirSync(RESULTS, { recursive: true });
  const name = `serve-${options.minDocuments}-${options.maxDocuments}-${options.maxBatchTokens}`;
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify({ machine, meanDocuments, options, rows }, null, 2)}\n`);
  writeFileSync(join(RESULTS, `${name}.md`), `${table}\n`);
  console.log(`\n${table}`);
}

await main();
