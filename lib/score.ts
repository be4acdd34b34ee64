/**
 * The batch scorer behind `crossrank score`: streams a JSONL file of pairs
 * through the model and appends one JSONL score line per input line, in input
 * order. Each output line carries its input line number, so a run that was
 * killed resumes after the last complete output line: a partial last line is
 * cut off and nothing is lost or written twice. Memory stays bounded by one
 * chunk of pairs whatever the input size.
 */
import { createReadStream } from 'node:fs';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import type { CrossEncoder, Pair } from './cross-encoder.js';

export interface Shard {
  /** 0-based: this process takes input lines index, index + count, ... */
  index: number;
  count: number;
}

export interface ScoreFileOptions {
  input: string;
  output: string;
  shard?: Shard;
  /** Pairs scored and written together; one chunk is what a kill can cost. */
  chunkPairs?: number;
  /** Receives progress; see ProgressReporter. */
  progress?: ProgressReporter;
}

export interface ScoreFileResult {
  /** Pairs scored by this run. */
  scored: number;
  /** Input line number already done by an earlier run (0 if none). */
  resumedAfterLine: number;
  seconds: number;
}

export interface ProgressReporter {
  start(total: number): void;
  update(done: number): void;
  finish(done: number): void;
}

export const DEFAULT_CHUNK_PAIRS = 256;

/** Parses `i/n` (0 <= i < n) as given to --shard. */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new RangeError(`--shard must be i/n with 0 <= i < n (e.g. 0/4), got ${JSON.stringify(text)}`);
  }
  return { index, count };
}

interface InputLine {
  line: number;
  pair: Pair;
  id?: unknown;
}

/** One input line: `[query, document]` or `{"query", "document", "id"?}`. */
function parseInputLine(text: string, line: number, file: string): InputLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`${file}:${line}: not valid JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
    return { line, pair: [value[0], value[1]] };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { query, document, id } = value as Record<string, unknown>;
    if (typeof query !== 'string') throw new TypeError(`${file}:${line}: field "query" must be a string`);
    if (typeof document !== 'string') throw new TypeError(`${file}:${line}: field "document" must be a string`);
    return id === undefined ? { line, pair: [query, document] } : { line, pair: [query, document], id };
  }
  throw new TypeError(`${file}:${line}: expected ["query", "document"] or {"query": ..., "document": ...}`);
}

/** Input lines in order, numbered from 1, blank lines skipped; reads ahead one stream chunk at most. */
async function* readLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  let carry = '';
  let line = 0;
  for await (const chunk of stream as AsyncIterable<string>) {
    const parts = (carry + chunk).split('\n');
    carry = parts.pop()!;
    for (const text of parts) {
      line++;
      if (text.trim() !== '') yield { line, text };
    }
  }
  line++;
  if (carry.trim() !== '') yield { line, text: carry };
}

const inShard = (line: number, shard: Shard): boolean => (line - 1) % shard.count === shard.index;

/**
 * Prepares `fd` (the output, opened for reading and writing) for appending:
 * cuts a partial last line and returns the input line number of the last
 * complete one (0 for an empty file).
 */
function resumePoint(fd: number, file: string): number {
  const size = fstatSync(fd).size;
  if (size === 0) return 0;
  // Read backwards from the end, doubling the window, until the last complete line is in it.
  for (let window = 64 * 1024; ; window *= 2) {
    const start = Math.max(0, size - window);
    const bytes = Buffer.alloc(size - start);
    readSync(fd, bytes, 0, bytes.length, start);
    const lastNewline = bytes.lastIndexOf(10);
    if (lastNewline < 0 && start > 0) continue;
    if (lastNewline < 0) {
      ftruncateSync(fd, 0); // only a partial first line was written
      return 0;
    }
    // (lastIndexOf reads a negative offset from the end, hence the guard.)
    const lineStart = lastNewline === 0 ? 0 : bytes.lastIndexOf(10, lastNewline - 1) + 1;
    if (lineStart === 0 && start > 0) continue;
    ftruncateSync(fd, start + lastNewline + 1);
    const text = bytes.subarray(lineStart, lastNewline).toString('utf8');
    let line: unknown;
    try {
      line = (JSON.parse(text) as { line?: unknown }).line;
    } catch {
      line = undefined;
    }
    if (typeof line !== 'number' || !Number.isInteger(line) || line < 1) {
      throw new Error(`cannot resume: the last line of ${file} is not a crossrank score line with a "line" number: ${text.slice(0, 80)}`);
    }
    return line;
  }
}

/**
 * Scores `options.input` into `options.output`, resuming after the output's
 * last complete line. Output lines are `{"line", "id"?, "score"}` for one-label
 * models and `{"line", "id"?, "scores": [...]}` otherwise, with the model's
 * default activation.
 */
export async function scoreFile(model: CrossEncoder, options: ScoreFileOptions): Promise<ScoreFileResult> {
  const shard = options.shard ?? { index: 0, count: 1 };
  const chunkPairs = options.chunkPairs ?? DEFAULT_CHUNK_PAIRS;
  const { numLabels } = model.config;
  const started = performance.now();

  const fd = openSync(options.output, 'a+');
  try {
    const resumedAfterLine = resumePoint(fd, options.output);
    // The progress total counts the lines that will be scored: this shard's,
    // after the resume point, and not blank (readLines skips those).
    let total = 0;
    for await (const { line } of readLines(options.input)) if (line > resumedAfterLine && inShard(line, shard)) total++;
    options.progress?.start(total);

    let scored = 0;
    let chunk: InputLine[] = [];
    const flush = async (): Promise<void> => {
      const scores = await model.predict(chunk.map((c) => c.pair));
      let text = '';
      chunk.forEach((c, i) => {
        const row = scores.subarray(i * numLabels, (i + 1) * numLabels);
        const record: Record<string, unknown> = { line: c.line };
        if (c.id !== undefined) record['id'] = c.id;
        if (numLabels === 1) record['score'] = row[0];
        else record['scores'] = Array.from(row);
        text += `${JSON.stringify(record)}\n`;
      });
      writeSync(fd, text);
      // Once per chunk: what a crash can lose is at most this chunk, which a restart redoes.
      fsyncSync(fd);
      scored += chunk.length;
      chunk = [];
      options.progress?.update(scored);
    };

    for await (const { line, text } of readLines(options.input)) {
      if (line <= resumedAfterLine || !inShard(line, shard)) continue;
      chunk.push(parseInputLine(text, line, options.input));
      if (chunk.length >= chunkPairs) await flush();
    }
    if (chunk.length > 0) await flush();
    options.progress?.finish(scored);
    return { scored, resumedAfterLine, seconds: (performance.now() - started) / 1000 };
  } finally {
    closeSync(fd);
  }
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/**
 * Progress on stderr: a bar redrawn in place on a terminal, otherwise a plain
 * line every `intervalSeconds` (logs and CI do not understand carriage returns).
 */
export class StderrProgress implements ProgressReporter {
  #total = 0;
  #started = 0;
  #lastPrinted = 0;

  constructor(
    readonly stream: NodeJS.WriteStream = process.stderr,
    readonly intervalSeconds = 10,
    /** What the lines say: "scored 10/20 pairs", "embedded 10/20 documents". */
    readonly verb = 'scored',
    readonly unit = 'pairs',
  ) {}

  start(total: number): void {
    this.#total = total;
    this.#started = performance.now();
  }

  update(done: number): void {
    const now = performance.now();
    const tty = this.stream.isTTY === true;
    if (now - this.#lastPrinted < (tty ? 100 : this.intervalSeconds * 1000)) return;
    this.#lastPrinted = now;
    this.#print(done, tty);
  }

  finish(done: number): void {
    this.#print(done, this.stream.isTTY === true);
    if (this.stream.isTTY) this.stream.write('\n');
  }

  #print(done: number, tty: boolean): void {
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = formatDuration(rate > 0 ? (this.#total - done) / rate : Infinity);
    const percent = this.#total > 0 ? (100 * done) / this.#total : 100;
    const status = `${done}/${this.#total} ${this.unit}, ${rate.toFixed(1)} ${this.unit}/s, ETA ${eta}`;
    if (tty) {
      const width = 30;
      const filled = Math.min(width, Math.round((percent / 100) * width));
      this.stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent.toFixed(1)}% ${status}`);
    } else {
      this.stream.write(`${this.verb} ${status}\n`);
    }
  }
}
