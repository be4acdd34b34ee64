#!/usr/bin/env node
/**
 * crossrank's command line:
 * MODEL is a model folder or a hub id (org/name, downloaded once into the huggingface_hub cache).
 *   crossrank rank [--model MODEL] --query TEXT --docs FILE [--top-k N] [--json] [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
 *   crossrank search --encoder MODEL [--model MODEL] --query TEXT --docs FILE [--retrieve-k N] [--top-k N] [--json] [--threads N]
 *   crossrank serve [--model MODEL] [--port N] [--host H] [--dtype fp32|int8|bf16] [...limits]
 *   crossrank score [--model MODEL] --input FILE --output FILE [--shard i/n] [--dtype fp32|int8|bf16]
 *   crossrank quantize MODEL OUT_DIR [--dtype int8|bf16]
 *   crossrank download ID [--revision R]
 *   crossrank info
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { CrossEncoder, DTYPES, type Dtype, type LoadOptions } from './cross-encoder.js';
import { DEFAULT_MODEL_ID } from './default-model.js';
import { downloadModel } from './hub/api.js';
import { DownloadProgressPrinter } from './hub/progress.js';
import { locateModel } from './hub/resolve.js';
import { cpuInfo } from './info.js';
import { DEFAULT_RETRIEVE_K, DocumentIndex, retrieveAndRerank } from './pipeline.js';
import { SentenceEncoder } from './sentence-encoder.js';
import { parseShard, scoreFile, StderrProgress } from './score.js';
import { RerankServer } from './server/server.js';
import { quantizeModel } from './quantize.js';

const USAGE = `Usage:
  crossrank rank [--model MODEL] --query TEXT --docs FILE [--top-k N] [--json] [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
      Scores every document of FILE against the query and prints them best first.
      FILE is a JSON array of strings (.json), one JSON string per line (.jsonl),
      or plain text with one document per non-empty line.
  crossrank search --encoder MODEL [--model MODEL] --query TEXT --docs FILE [--retrieve-k 100] [--top-k N] [--json] [--threads N]
      Retrieve, then rerank: the bi-encoder (a sentence-transformers folder such as
      all-MiniLM-L6-v2) keeps the --retrieve-k documents nearest the query, the
      cross-encoder (default: ${DEFAULT_MODEL_ID}) reorders them.
  crossrank serve [--model MODEL] [--port 8080] [--host 127.0.0.1] [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
                  [--max-batch-tokens N] [--max-queued-pairs N] [--max-documents N]
                  [--max-request-tokens N] [--max-body-bytes N] [--timeout-ms N] [--max-queue-ms N]
                  [--drain-timeout-ms N] [--headers-timeout-ms N] [--keep-alive-timeout-ms N]
                  [--max-connections N] [--no-request-log] [--no-auto-truncate] [--no-batching]
                  [--model-name NAME]
      Serves the model over HTTP: POST /rerank (TEI's texts or Infinity's documents),
      /v1/rerank (Cohere v1, Jina), /v2/rerank (Cohere v2), /predict (TEI's inputs
      or raw pairs); GET /health, /info, /metrics. Logs one line per request unless
      --no-request-log. SIGTERM or SIGINT closes idle connections, answers the
      requests in progress (for --drain-timeout-ms at most), then exits.
  crossrank score [--model MODEL] --input FILE --output FILE [--shard i/n] [--chunk-pairs N]
                  [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
      Scores a JSONL file of ["query", "document"] or {"query", "document", "id"?}
      lines into JSONL {"line", "id"?, "score"} lines, resuming after the last
      complete output line if FILE exists. --shard i/n takes every n-th line from i.
  crossrank quantize MODEL OUT_DIR [--dtype int8|bf16]
      Writes an int8 (default) or bf16 copy of the model to OUT_DIR (loads as that
      dtype).
  crossrank download ID [--revision main] [--cache-dir DIR]
      Downloads a model from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN) into the
      huggingface_hub cache (HF_HUB_CACHE, else HF_HOME/hub, else
      ~/.cache/huggingface/hub), or brings the cached one up to the revision's
      current commit; prints the snapshot folder.
  crossrank info
      Prints the CPU features found and the kernels chosen for them.

MODEL is a model folder or a Hugging Face hub id (org/name): an id is
downloaded once into the huggingface_hub cache and loaded from it after, with
no network. rank, search, serve and score use ${DEFAULT_MODEL_ID} when
--model is not given.`;

class UsageError extends Error {}

function readDocuments(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --docs ${file}: ${(error as Error).message}`);
  }
  if (file.endsWith('.json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed) || parsed.some((d) => typeof d !== 'string')) {
      throw new UsageError(`${file} must hold a JSON array of strings`);
    }
    return parsed as string[];
  }
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (file.endsWith('.jsonl')) {
    return lines.map((line, i) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (error) {
        throw new UsageError(`${file}:${i + 1} is not valid JSON: ${(error as Error).message}`);
      }
      if (typeof parsed !== 'string') throw new UsageError(`${file}:${i + 1} must be a JSON string`);
      return parsed;
    });
  }
  return lines;
}

function dtypeOption(value: string | undefined): Dtype | undefined {
  if (value === undefined) return undefined;
  if (!DTYPES.includes(value as Dtype)) {
    throw new UsageError(`--dtype must be ${DTYPES.join(' or ')}, got ${JSON.stringify(value)}`);
  }
  return value as Dtype;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A cross-encoder by folder or hub id, with download progress on stderr; resolves once it is usable. */
function loadReranker(model: string | undefined, options: LoadOptions): Promise<CrossEncoder> {
  return CrossEncoder.load(model, { ...options, onProgress: new DownloadProgressPrinter().update }).ready;
}

/** Inputs from this many items up get a progress line on stderr, as `score` prints. */
const LONG_INPUT_ITEMS = 1000;

/**
 * A progress reporter for a call over `total` items, or undefined for short
 * inputs (which finish before a line would help).
 */
function progressOnLongInput(
  total: number,
  verb = 'scored',
  unit = 'pairs',
): { onProgress: (done: number) => void; finish: () => void } | undefined {
  if (total < LONG_INPUT_ITEMS) return undefined;
  const reporter = new StderrProgress(process.stderr, 10, verb, unit);
  let done = 0;
  reporter.start(total);
  return {
    onProgress: (count) => {
      done = count;
      reporter.update(count);
    },
    finish: () => reporter.finish(done),
  };
}

async function rank(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      query: { type: 'string' },
      docs: { type: 'string' },
      'top-k': { type: 'string' },
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      'max-length': { type: 'string' },
      dtype: { type: 'string' },
    },
    strict: true,
  });
  if (values.query === undefined) throw new UsageError('rank needs --query TEXT');
  if (!values.docs) throw new UsageError('rank needs --docs FILE');
  const topK = positiveInteger(values['top-k'], '--top-k');
  const threads = positiveInteger(values.threads, '--threads');
  const maxLength = positiveInteger(values['max-length'], '--max-length');
  const documents = readDocuments(values.docs);

  const dtype = dtypeOption(values.dtype);

  const loadStart = performance.now();
  const model = await loadReranker(values.model, { threads, maxLength, dtype });
  const loadMs = performance.now() - loadStart;
  const rankStart = performance.now();
  const progress = progressOnLongInput(documents.length);
  const results = await model.rank(values.query, documents, { topK, returnDocuments: true, onProgress: progress?.onProgress });
  progress?.finish();
  const rankMs = performance.now() - rankStart;
  model.dispose();

  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ query: values.query, results, loadMs, rankMs, documents: documents.length }, null, 2)}\n`,
    );
    return;
  }
  const width = String(documents.length).length;
  process.stdout.write(`query: ${values.query}\n\n`);
  results.forEach((result, position) => {
    const text = result.document!.replace(/\s+/g, ' ');
    const shown = text.length > 100 ? `${text.slice(0, 99)}…` : text;
    process.stdout.write(
      `${String(position + 1).padStart(width)}. ${result.score.toFixed(4)}  [${String(result.index).padStart(width)}] ${shown}\n`,
    );
  });
  process.stdout.write(
    `\nranked ${documents.length} documents in ${rankMs.toFixed(1)} ms ` +
      `(model loaded in ${loadMs.toFixed(1)} ms, ${model.threads} threads)\n`,
  );
}

async function search(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      encoder: { type: 'string' },
      query: { type: 'string' },
      docs: { type: 'string' },
      'retrieve-k': { type: 'string' },
      'top-k': { type: 'string' },
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
    },
    strict: true,
  });
  if (!values.encoder) {
    throw new UsageError(
      'search needs --encoder MODEL (a sentence-transformers bi-encoder folder or hub id, e.g. sentence-transformers/all-MiniLM-L6-v2)',
    );
  }
  if (values.query === undefined) throw new UsageError('search needs --query TEXT');
  if (!values.docs) throw new UsageError('search needs --docs FILE');
  const retrieveK = positiveInteger(values['retrieve-k'], '--retrieve-k');
  const topK = positiveInteger(values['top-k'], '--top-k');
  const threads = positiveInteger(values.threads, '--threads');
  const documents = readDocuments(values.docs);

  const loadStart = performance.now();
  const encoder = await SentenceEncoder.load(values.encoder, { threads, onProgress: new DownloadProgressPrinter().update }).ready;
  const reranker = await loadReranker(values.model, { threads });
  const loadMs = performance.now() - loadStart;
  try {
    const start = performance.now();
    const embedding = progressOnLongInput(documents.length, 'embedded', 'documents');
    const index = await DocumentIndex.build(encoder, documents, { onProgress: embedding?.onProgress });
    embedding?.finish();
    const indexMs = performance.now() - start;
    const searchStart = performance.now();
    const reranking = progressOnLongInput(Math.min(retrieveK ?? DEFAULT_RETRIEVE_K, documents.length));
    const results = await retrieveAndRerank(values.query, index, {
      reranker,
      retrieveK,
      topK,
      returnDocuments: true,
      rerank: { onProgress: reranking?.onProgress },
    });
    reranking?.finish();
    const searchMs = performance.now() - searchStart;
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ query: values.query, results, loadMs, indexMs, searchMs, documents: documents.length }, null, 2)}\n`,
      );
      return;
    }
    const width = String(documents.length).length;
    process.stdout.write(`query: ${values.query}\n\n     rerank   cosine (rank)\n`);
    results.forEach((result, position) => {
      const text = result.document!.replace(/\s+/g, ' ');
      const shown = text.length > 90 ? `${text.slice(0, 89)}…` : text;
      process.stdout.write(
        `${String(position + 1).padStart(width)}. ${result.score.toFixed(4)}  ${result.retrievalScore.toFixed(4)} (${String(result.retrievalRank + 1).padStart(width)})  ${shown}\n`,
      );
    });
    process.stdout.write(
      `\nembedded ${documents.length} documents in ${indexMs.toFixed(1)} ms; retrieved ${Math.min(retrieveK ?? 100, documents.length)} ` +
        `and reranked them in ${searchMs.toFixed(1)} ms (models loaded in ${loadMs.toFixed(1)} ms: ` +
        `${encoder.config.name}, ${reranker.config.name} ${reranker.config.dtype})\n`,
    );
  } finally {
    encoder.dispose();
    reranker.dispose();
  }
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      threads: { type: 'string' },
      'max-length': { type: 'string' },
      'max-batch-tokens': { type: 'string' },
      'max-queued-pairs': { type: 'string' },
      'max-documents': { type: 'string' },
      'max-request-tokens': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'max-queue-ms': { type: 'string' },
      'drain-timeout-ms': { type: 'string' },
      'headers-timeout-ms': { type: 'string' },
      'keep-alive-timeout-ms': { type: 'string' },
      'max-connections': { type: 'string' },
      'no-request-log': { type: 'boolean', default: false },
      'no-auto-truncate': { type: 'boolean', default: false },
      'no-batching': { type: 'boolean', default: false },
      'model-name': { type: 'string' },
      dtype: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`);
  }
  const model = await loadReranker(values.model, {
    threads: positiveInteger(values.threads, '--threads'),
    maxLength: positiveInteger(values['max-length'], '--max-length'),
    dtype: dtypeOption(values.dtype),
  });
  const server = new RerankServer(model, {
    maxBatchTokens: positiveInteger(values['max-batch-tokens'], '--max-batch-tokens'),
    maxQueuedPairs: positiveInteger(values['max-queued-pairs'], '--max-queued-pairs'),
    maxDocuments: positiveInteger(values['max-documents'], '--max-documents'),
    maxRequestTokens: positiveInteger(values['max-request-tokens'], '--max-request-tokens'),
    maxBodyBytes: positiveInteger(values['max-body-bytes'], '--max-body-bytes'),
    requestTimeoutMs: positiveInteger(values['timeout-ms'], '--timeout-ms'),
    maxQueueMs: positiveInteger(values['max-queue-ms'], '--max-queue-ms'),
    drainTimeoutMs: positiveInteger(values['drain-timeout-ms'], '--drain-timeout-ms'),
    headersTimeoutMs: positiveInteger(values['headers-timeout-ms'], '--headers-timeout-ms'),
    keepAliveTimeoutMs: positiveInteger(values['keep-alive-timeout-ms'], '--keep-alive-timeout-ms'),
    maxConnections: positiveInteger(values['max-connections'], '--max-connections'),
    requestLog: !values['no-request-log'],
    autoTruncate: !values['no-auto-truncate'],
    coalesce: !values['no-batching'],
    modelName: values['model-name'],
  });
  const listening = await server.listen(port, values.host);
  process.stdout.write(
    `crossrank: listening on http://${values.host}:${listening} (model ${server.options.modelName}, ${model.config.dtype}, ` +
      `${model.threads} threads, batching ${server.options.coalesce ? 'on' : 'off'})\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.stderr.write(
        `crossrank: ${signal}: answering the requests in flight (for ${server.options.drainTimeoutMs} ms at most), then stopping\n`,
      );
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  const stopping = performance.now();
  await server.close();
  process.stderr.write(`crossrank: stopped after ${((performance.now() - stopping) / 1000).toFixed(1)} s of draining\n`);
  model.dispose();
}

async function score(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      shard: { type: 'string' },
      'chunk-pairs': { type: 'string' },
      threads: { type: 'string' },
      'max-length': { type: 'string' },
      dtype: { type: 'string' },
    },
    strict: true,
  });
  if (!values.input) throw new UsageError('score needs --input FILE (JSONL pairs)');
  if (!values.output) throw new UsageError('score needs --output FILE (JSONL scores, resumed if it exists)');
  if (!existsSync(values.input)) throw new UsageError(`--input ${values.input} does not exist`);
  let shard;
  try {
    shard = values.shard === undefined ? undefined : parseShard(values.shard);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const chunkPairs = positiveInteger(values['chunk-pairs'], '--chunk-pairs');
  const model = await loadReranker(values.model, {
    threads: positiveInteger(values.threads, '--threads'),
    maxLength: positiveInteger(values['max-length'], '--max-length'),
    dtype: dtypeOption(values.dtype),
  });
  try {
    const result = await scoreFile(model, {
      input: values.input,
      output: values.output,
      shard,
      chunkPairs,
      progress: new StderrProgress(),
    });
    const resumed = result.resumedAfterLine > 0 ? `, resumed after input line ${result.resumedAfterLine}` : '';
    process.stdout.write(
      `scored ${result.scored} pairs in ${result.seconds.toFixed(1)} s ` +
        `(${(result.scored / result.seconds).toFixed(1)} pairs/s, ${model.threads} threads${resumed})\n`,
    );
  } finally {
    model.dispose();
  }
}

async function quantize(args: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args,
    options: { dtype: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 2) throw new UsageError('quantize needs MODEL (a folder or hub id) and OUT_DIR');
  const dtype = values.dtype ?? 'int8';
  if (dtype !== 'int8' && dtype !== 'bf16') {
    throw new UsageError(`quantize --dtype must be int8 or bf16, got ${JSON.stringify(dtype)}`);
  }
  const [model, outDir] = positionals as [string, string];
  const location = locateModel(model, 'cross-encoder', { onProgress: new DownloadProgressPrinter().update });
  const modelDir = location.dir ?? (await location.pending).dir;
  const start = performance.now();
  quantizeModel(modelDir, outDir, { dtype });
  process.stdout.write(`wrote the ${dtype} model to ${outDir} in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
}

async function download(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { revision: { type: 'string' }, 'cache-dir': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('download needs one hub id, e.g. cross-encoder/ms-marco-MiniLM-L6-v2');
  const [id] = positionals as [string];
  const result = await downloadModel(id, {
    revision: values.revision,
    cacheDir: values['cache-dir'],
    onProgress: new DownloadProgressPrinter().update,
  });
  const fetched = result.downloaded.length === 0 ? 'all files were already cached' : `downloaded ${result.downloaded.join(', ')}`;
  process.stderr.write(`crossrank: ${id} at commit ${result.commit}: ${fetched}\n`);
  process.stdout.write(`${result.dir}\n`);
}

function info(): void {
  process.stdout.write(`${JSON.stringify(cpuInfo(), null, 2)}\n`);
}

const COMMANDS = ['rank', 'search', 'serve', 'score', 'quantize', 'info'];

/** The part of USAGE about one command: its synopsis and description. */
function commandUsage(command: string): string {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`  crossrank ${command}`));
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith('    ')) end++;
  return `Usage:\n${lines.slice(start, end).join('\n')}`;
}

/** --help or -h among a command's options (before any `--`). */
function asksForHelp(args: string[]): boolean {
  const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  return options.includes('--help') || options.includes('-h');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && COMMANDS.includes(command) && asksForHelp(rest)) {
    process.stdout.write(`${commandUsage(command)}\n`);
    return 0;
  }
  try {
    if (command === 'rank') await rank(rest);
    else if (command === 'search') await search(rest);
    else if (command === 'serve') await serve(rest);
    else if (command === 'score') await score(rest);
    else if (command === 'quantize') await quantize(rest);
    else if (command === 'download') await download(rest);
    else if (command === 'info') info();
    else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 1 : 0;
    } else throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`crossrank: ${(error as Error).message.replace(/^crossrank: /, '')}\n`);
    if (usage) process.stderr.write(`\n${USAGE}\n`);
    return usage ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
