// Shared by the Node contenders: arguments, the workload, timing, and the one JSON line each prints.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** `--key value` pairs into an object; every contender takes the same base options from bench/run.ts. */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument list: ${argv.join(' ')}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const required of ['data', 'model', 'queries', 'threads', 'max-length']) {
    if (args[required] === undefined) throw new Error(`missing --${required}`);
  }
  return { ...args, queries: Number(args.queries), threads: Number(args.threads), maxLength: Number(args['max-length']) };
}

/** The first `count` queries of the retrieval file, each as its list of [query, passage] pairs in BM25 order. */
export function loadWorkload(path, count) {
  const all = JSON.parse(readFileSync(path, 'utf8'));
  return all.slice(0, count).map((entry) => ({
    qid: String(entry.hits[0]?.qid ?? ''),
    pairs: entry.hits.map((hit) => [entry.query, hit.content]),
  }));
}

/** Peak resident set of this process (VmHWM), in MB. */
export function peakRssMB() {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/**
 * Runs `scoreQuery` once on the first query as a warm-up (not timed), then on every query,
 * timing each call end to end (tokenisation included). Returns logits in workload order.
 */
export async function timeWorkload(workload, scoreQuery) {
  await scoreQuery(workload[0].pairs);
  const latenciesMs = [];
  const logits = [];
  const start = performance.now();
  for (const { pairs } of workload) {
    const t0 = performance.now();
    const scores = await scoreQuery(pairs);
    latenciesMs.push(performance.now() - t0);
    if (scores.length !== pairs.length) throw new Error(`expected ${pairs.length} scores, got ${scores.length}`);
    for (const s of scores) logits.push(s);
  }
  return { totalMs: performance.now() - start, latenciesMs, logits };
}

/** Indices of `lengths` in ascending length order (stable), or in input order. */
export function order(lengths, sorted) {
  const indices = Array.from(lengths, (_, i) => i);
  return sorted ? indices.sort((a, b) => lengths[a] - lengths[b] || a - b) : indices;
}

/** Cuts `indices` into consecutive batches of at most `size`. */
export function chunk(indices, size) {
  const batches = [];
  for (let i = 0; i < indices.length; i += size) batches.push(indices.slice(i, i + size));
  return batches;
}

export function emit(result) {
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMB: peakRssMB() })}\n`);
}

export { performance };
