/**
 * Peak RSS of one large predict call: shows that a call's memory is bounded
 * by the tokenisation chunk and the batch token budget, not by its number of
 * pairs. Run once per pair count, each in a fresh process (peak RSS is a
 * high-water mark), e.g.
 *
 *   node --import=tsx bench/peak-rss.ts --pairs 100000 [--model DIR] [--words 24]
 *
 * Pairs cycle through the TREC DL 2020 queries and their BM25 passages, each
 * passage cut to its first --words words (short pairs keep the run short;
 * the tokens per pair are printed). Prints one JSON line.
 *
 * With --long, one pair instead: a TREC query and the concatenation of
 * passages long enough to be cut at --max-length tokens (e.g. 8192 on a
 * model of bge-reranker-v2-m3's shape, written by
 * `scripts/make-scale-goldens.py --write-model xlm-roberta-large DIR`), to
 * show that attention's memory stays linear in the sequence length.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CrossEncoder } from '../lib/index.js';
import { minilmDir, sharedDataDir } from '../test/helpers/fixtures.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '100000' },
    model: { type: 'string', default: minilmDir },
    words: { type: 'string', default: '24' },
    threads: { type: 'string', default: '2' },
    long: { type: 'boolean', default: false },
    'max-length': { type: 'string' },
  },
});
const count = Number(values.pairs);
const words = Number(values.words);

/** Peak resident set size of this process so far (VmHWM), in MB. */
const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

interface TrecQuery {
  query: string;
  hits: { content: string }[];
}
const trec = JSON.parse(readFileSync(join(sharedDataDir, 'trec-dl20', 'retrieve_results_dl20.json'), 'utf8')) as TrecQuery[];
const sources = trec.flatMap(({ query, hits }) => hits.map((hit) => [query, hit.content.split(/\s+/).slice(0, words).join(' ')] as const));
const maxLength = values['max-length'] === undefined ? undefined : Number(values['max-length']);
const longPassage = trec.flatMap(({ hits }) => hits.map((hit) => hit.content)).slice(0, 400).join(' ');
const pairs = values.long
  ? [[trec[0]!.query, longPassage] as const]
  : Array.from({ length: count }, (_, i) => sources[i % sources.length]!);

const model = CrossEncoder.load(values.model!, { threads: Number(values.threads), maxLength });
const tokens = values.long ? model.tokenize(pairs).ids.length : model.tokenize(sources).ids.length / sources.length;
global.gc?.();
const beforeCall = { rssMb: rssMb(), peakRssMb: peakRssMb() };
// Loading (the file read, then its weights packed) can peak above the call:
// reset the high-water mark (Linux: "5" to clear_refs) so peakRssMb is the call's.
let peakReset = true;
try {
  writeFileSync('/proc/self/clear_refs', '5');
} catch {
  peakReset = false;
}
const started = performance.now();
const scores = await model.predict(pairs);
const seconds = (performance.now() - started) / 1000;
if (scores.length !== pairs.length * model.config.numLabels || !scores.every(Number.isFinite)) throw new Error('bad scores');
console.log(
  JSON.stringify({
    model: values.model,
    pairs: pairs.length,
    maxLength: model.config.maxLength,
    meanTokensPerPair: Number(tokens.toFixed(1)),
    seconds: Number(seconds.toFixed(1)),
    rssBeforeCallMb: Number(beforeCall.rssMb.toFixed(1)),
    peakRssBeforeCallMb: Number(beforeCall.peakRssMb.toFixed(1)),
    peakRssMb: Number(peakRssMb().toFixed(1)),
    peakRssIsTheCallsOwn: peakReset,
  }),
);
model.dispose();
