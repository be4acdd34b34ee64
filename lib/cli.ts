#!/usr/bin/env node
/**
 * crossrank's command line:
 *   crossrank rank [--model DIR] --query TEXT --docs FILE [--top-k N] [--json] [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
 *   crossrank search --encoder DIR [--model DIR] --query TEXT --docs FILE [--retrieve-k N] [--top-k N] [--json] [--threads N]
 *   crossrank serve [--model DIR] [--port N] [--host H] [--dtype fp32|int8|bf16] [...limits]
 *   crossrank score [--model DIR] --input FILE --output FILE [--shard i/n] [--dtype fp32|int8|bf16]
 *   crossrank quantize MODEL_DIR OUT_DIR
 *   crossrank info
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { CrossEncoder, DTYPES, type Dtype } from './cross-encoder.js';
import { cpuInfo } from './info.js';
import { DocumentIndex, retrieveAndRerank } from './pipeline.js';
import { SentenceEncoder } from './sentence-encoder.js';
import { parseShard, scoreFile, StderrProgress } from './score.js';
import { RerankServer } from './server/server.js';
import { quantizeModel } from './quantize.js';

const USAGE = `Usage:
  crossrank rank [--model DIR] --query TEXT --docs FILE [--top-k N] [--json] [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
      Scores every document of FILE against the query and prints them best first.
      FILE is a JSON array of strings (.json), one JSON string per line (.jsonl),
      or plain text with one document per non-empty line. Without --model, the
      reranker shipped with crossrank is used.
  crossrank search --encoder DIR [--model DIR] --query TEXT --docs FILE [--retrieve-k 100] [--top-k N] [--json] [--threads N]
      Retrieve, then rerank: the bi-encoder (a sentence-transformers folder such as
      all-MiniLM-L6-v2) keeps the --retrieve-k documents nearest the query, the
      cross-encoder (default: the shipped reranker) reorders them.
  crossrank serve [--model DIR] [--port 8080] [--host 127.0.0.1] [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
                  [--max-batch-tokens N] [--max-queued-pairs N] [--max-documents N]
                  [--max-request-tokens N] [--max-body-bytes N] [--timeout-ms N]
                  [--no-auto-truncate] [--no-batching] [--model-name NAME]
      Serves the model over HTTP: POST /rerank (TEI), /v1/rerank (Cohere, Jina),
      /predict; GET /health, /info, /metrics. SIGTERM or SIGINT stops it after
      the requests in flight are answered.
  crossrank score [--model DIR] --input FILE --output FILE [--shard i/n] [--chunk-pairs N]
                  [--threads N] [--max-length N] [--dtype fp32|int8|bf16]
      Scores a JSONL file of ["query", "document"] or {"query", "document", "id"?}
      lines into JSONL {"line", "id"?, "score"} lines, resuming after the last
      complete output line if FILE exists. --shard i/n takes every n-th line from i.
  crossrank quantize MODEL_DIR OUT_DIR [--dtype int8|bf16]
      Writes an int8 (default) or bf16 copy of the model folder to OUT_DIR (loads as
      that dtype).
  crossrank info
      Prints the CPU features found and the kernels chosen for them.

rank, search, serve and score use the reranker shipped with crossrank when
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
  const model = CrossEncoder.load(values.model, { threads, maxLength, dtype });
  const loadMs = performance.now() - loadStart;
  const rankStart = performance.now();
  const results = await model.rank(values.query, documents, { topK, returnDocuments: true });
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
    throw new UsageError('search needs --encoder DIR (a sentence-transformers bi-encoder folder, e.g. all-MiniLM-L6-v2)');
  }
  if (values.query === undefined) throw new UsageError('search needs --query TEXT');
  if (!values.docs) throw new UsageError('search needs --docs FILE');
  const retrieveK = positiveInteger(values['retrieve-k'], '--retrieve-k');
  const topK = positiveInteger(values['top-k'], '--top-k');
  const threads = positiveInteger(values.threads, '--threads');
  const documents = readDocuments(values.docs);

  const loadStart = performance.now();
  const encoder = SentenceEncoder.load(values.encoder, { threads });
  const reranker = CrossEncoder.load(values.model, { threads });
  const loadMs = performance.now() - loadStart;
  try {
    const start = performance.now();
    const index = await DocumentIndex.build(encoder, documents);
    const indexMs = performance.now() - start;
    const searchStart = performance.now();
    const results = await retrieveAndRerank(values.query, index, { reranker, retrieveK, topK, returnDocuments: true });
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
        `${basename(encoder.config.path)}, ${basename(reranker.config.path)} ${reranker.config.dtype})\n`,
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
  const model = CrossEncoder.load(values.model, {
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
      process.stderr.write(`crossrank: ${signal}: answering the requests in flight, then stopping\n`);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await server.close();
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
  const model = CrossEncoder.load(values.model, {
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

function quantize(args: string[]): void {
  const { positionals, values } = parseArgs({
    args,
    options: { dtype: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 2) throw new UsageError('quantize needs MODEL_DIR and OUT_DIR');
  const dtype = values.dtype ?? 'int8';
  if (dtype !== 'int8' && dtype !== 'bf16') {
    throw new UsageError(`quantize --dtype must be int8 or bf16, got ${JSON.stringify(dtype)}`);
  }
  const [modelDir, outDir] = positionals as [string, string];
  const start = performance.now();
  quantizeModel(modelDir, outDir, { dtype });
  process.stdout.write(`wrote the ${dtype} model to ${outDir} in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
}

function info(): void {
  process.stdout.write(`${JSON.stringify(cpuInfo(), null, 2)}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'rank') await rank(rest);
    else if (command === 'search') await search(rest);
    else if (command === 'serve') await serve(rest);
    else if (command === 'score') await score(rest);
    else if (command === 'quantize') quantize(rest);
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
