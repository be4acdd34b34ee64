/**
 * Golden cases written by scripts/make-fixtures.py. Texts from ../shared/data
 * are referenced, never copied: a TextRef names where the text is and
 * resolveText reads it the way the script did (test/fixtures/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { fixturesDir, readJson, sharedDataDir } from './fixtures.js';

/** The models with golden files in test/fixtures (<name>-goldens.json, <name>-hidden-goldens.json). */
export type GoldenName = 'tiny' | 'minilm' | 'tiny-xlm-roberta' | 'tiny-roberta' | 'tiny-electra' | 'tiny-modernbert' | 'tiny-modernbert-mean';

export type TextRef =
  | string
  | { trecQuery: string }
  | { trecPassage: string }
  | { stsb: [string, number, 1 | 2] }
  | { concat: TextRef[]; sep?: string }
  | { repeat: TextRef; times: number; sep?: string };

export interface GoldenCase {
  name: string;
  query: TextRef;
  passage: TextRef;
  truncation: 'longest_first' | 'only_second';
  maxLength: number;
  ids: number[];
  typeIds: number[];
  logits: number[];
  note?: string;
}

export interface GoldenFile {
  model: string;
  torch: string;
  transformers: string;
  numLabels: number;
  cases: GoldenCase[];
}

export function loadGoldens(name: GoldenName): GoldenFile {
  return readJson<GoldenFile>(join(fixturesDir, `${name}-goldens.json`));
}

interface TrecEntry {
  query: string;
  hits: { qid: string; docid: string; content: string }[];
}

let trecQueries: Map<string, string> | undefined;
let trecPassages: Map<string, string> | undefined;
const stsbRows = new Map<string, string[]>();

function loadTrec(): void {
  if (trecQueries) return;
  const entries = readJson<TrecEntry[]>(join(sharedDataDir, 'trec-dl20', 'retrieve_results_dl20.json'));
  trecQueries = new Map();
  trecPassages = new Map();
  for (const entry of entries) {
    for (const hit of entry.hits) {
      trecQueries.set(String(hit.qid), entry.query);
      trecPassages.set(String(hit.docid), hit.content);
    }
  }
}

function stsbLines(split: string): string[] {
  let lines = stsbRows.get(split);
  if (!lines) {
    lines = readFileSync(join(sharedDataDir, 'stsbenchmark', `sts-${split}.csv`), 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    stsbRows.set(split, lines);
  }
  return lines;
}

export function resolveText(ref: TextRef): string {
  if (typeof ref === 'string') return ref;
  if ('trecQuery' in ref) {
    loadTrec();
    const text = trecQueries!.get(ref.trecQuery);
    if (text === undefined) throw new Error(`golden refers to unknown TREC query ${ref.trecQuery}`);
    return text;
  }
  if ('trecPassage' in ref) {
    loadTrec();
    const text = trecPassages!.get(ref.trecPassage);
    if (text === undefined) throw new Error(`golden refers to unknown TREC passage ${ref.trecPassage}`);
    return text;
  }
  if ('stsb' in ref) {
    const [split, row, column] = ref.stsb;
    const line = stsbLines(split)[row];
    if (line === undefined) throw new Error(`golden refers to missing STS-B row ${split}:${row}`);
    const field = line.split('\t')[column === 1 ? 5 : 6];
    if (field === undefined) throw new Error(`STS-B row ${split}:${row} has no sentence ${column}`);
    return field;
  }
  if ('concat' in ref) return ref.concat.map(resolveText).join(ref.sep ?? ' ');
  if ('repeat' in ref) return Array.from({ length: ref.times }, () => resolveText(ref.repeat)).join(ref.sep ?? ' ');
  throw new Error(`unknown TextRef ${JSON.stringify(ref)}`);
}

export interface EmbedGoldenCase {
  text: TextRef;
  ids: number[];
  /** sentence-transformers' output (the model's Normalize module applied). */
  embedding: number[];
  /** The Pooling module's output, before Normalize. */
  unnormalized: number[];
}

export interface EmbedGoldenFile {
  model: string;
  maxSeqLength: number;
  cases: EmbedGoldenCase[];
}

export interface HiddenGoldenCase {
  name: string;
  query: TextRef;
  passage: TextRef;
  truncation: 'longest_first' | 'only_second';
  maxLength: number;
  ids: number[];
  typeIds: number[];
  /** By layer: the [CLS] row and the mean over all the pair's tokens of hidden_states[layer]. */
  hidden: Record<string, { cls: number[]; mean: number[] }>;
}

export interface HiddenGoldenFile {
  model: string;
  numHiddenLayers: number;
  layers: number[];
  cases: HiddenGoldenCase[];
}

export function loadEmbedGoldens(): EmbedGoldenFile {
  return readJson<EmbedGoldenFile>(join(fixturesDir, 'minilm-embed-goldens.json'));
}

export function loadHiddenGoldens(name: GoldenName): HiddenGoldenFile {
  return readJson<HiddenGoldenFile>(join(fixturesDir, `${name}-hidden-goldens.json`));
}

/** The largest |a[i] - b[i]|; the lengths must match. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} differs from ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
