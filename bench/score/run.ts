/**
 * Throughput of `crossrank score` on the TREC DL 2020 rerank pairs (54
 * queries x their BM25 top 100 = 5,400 pairs), run as a user runs it: the CLI
 * in its own process, from a JSONL file to a fresh output file. Writes
 * bench/results/score.json and prints the CLI's summary line.
 *
 *   npx tsx bench/score/run.ts [--threads 2] [--chunk-pairs 256]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = join(REPO, '..', 'shared', 'data', 'trec-dl20', 'retrieve_results_dl20.json');
const MODEL = join(REPO, '.cache', 'models', 'minilm-l6-cross-encoder');

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const threads = flag('--threads', '2');
const chunkPairs = flag('--chunk-pairs', '256');

const entries = JSON.parse(readFileSync(DATA, 'utf8')) as { query: string; hits: { docid: string; content: string }[] }[];
const lines = entries.flatMap((entry) => entry.hits.map((hit) => JSON.stringify({ query: entry.query, document: hit.content, id: hit.docid })));
const work = mkdtempSync(join(tmpdir(), 'crossrank-score-bench-'));
const input = join(work, 'trec-dl20-pairs.jsonl');
writeFileSync(input, `${lines.join('\n')}\n`);

const loadavgAtStart = loadavg();
const summary = execFileSync(
  'node',
  [join(REPO, 'dist', 'lib', 'cli.js'), 'score', '--model', MODEL, '--input', input, '--output', join(work, 'scores.jsonl'), '--threads', threads, '--chunk-pairs', chunkPairs],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
).trim();
rmSync(work, { recursive: true });

const match = /scored (\d+) pairs in ([\d.]+) s \(([\d.]+) pairs\/s/.exec(summary);
if (!match) throw new Error(`unexpected output from crossrank score: ${summary}`);
const result = {
  pairs: Number(match[1]),
  seconds: Number(match[2]),
  pairsPerSecond: Number(match[3]),
  threads: Number(threads),
  chunkPairs: Number(chunkPairs),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtStart },
};
mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
writeFileSync(join(REPO, 'bench', 'results', 'score.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`${summary}\nload average at start: ${loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}`);
