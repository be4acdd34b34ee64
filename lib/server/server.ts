/**
 * The rerank HTTP server, on Node's own http module: TEI's /rerank, Cohere's
 * and Jina's /v1/rerank, /predict for raw pairs, /health, /info and /metrics.
 * Every scoring request goes through one Batcher, so concurrent requests share
 * engine batches.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

import { type Activation, applyActivation } from '../activation.js';
import { type CrossEncoder, DEFAULT_MAX_BATCH_TOKENS, type Pair } from '../cross-encoder.js';
import { cpuInfo } from '../info.js';
import { Batcher, QueueFullError } from './batcher.js';
import { ServerMetrics } from './metrics.js';
import { HttpError, parseCohereRerank, parsePredict, parseTeiRerank } from './requests.js';

export interface ServerOptions {
  /** Upper bound on the tokens of one engine batch. */
  maxBatchTokens?: number;
  /** Pairs that may wait for the engine; more get 503 with Retry-After. */
  maxQueuedPairs?: number;
  /** false: one request per engine batch (to measure what coalescing gains). */
  coalesce?: boolean;
  /** Largest request body accepted, in bytes (413 beyond). */
  maxBodyBytes?: number;
  /** Most documents (or pairs) in one request (413 beyond). */
  maxDocuments?: number;
  /** Most tokens in one request, after truncation (413 beyond). */
  maxRequestTokens?: number;
  /** A request not answered in this time gets 504 and its queued work is dropped. */
  requestTimeoutMs?: number;
  /** Truncate over-long pairs when a request does not say (TEI's `truncate`); false refuses them with 413. */
  autoTruncate?: boolean;
  /** The name answered as `model` (default: the model folder's name). */
  modelName?: string;
}

export const DEFAULT_SERVER_OPTIONS: Required<Omit<ServerOptions, 'modelName'>> = {
  maxBatchTokens: DEFAULT_MAX_BATCH_TOKENS,
  maxQueuedPairs: 8192,
  coalesce: true,
  maxBodyBytes: 2 * 1024 * 1024,
  maxDocuments: 1000,
  maxRequestTokens: 256 * 1024,
  requestTimeoutMs: 30_000,
  autoTruncate: true,
};

/** Path -> method. A Map, so that no request path can reach Object.prototype. */
const ROUTES = new Map([
  ['/rerank', 'POST'],
  ['/v1/rerank', 'POST'],
  ['/predict', 'POST'],
  ['/health', 'GET'],
  ['/info', 'GET'],
  ['/metrics', 'GET'],
]);

/** Why a request's work was dropped before it was answered. */
class ClientGone extends Error {}

interface Scored {
  scores: Float32Array;
  tokens: number;
}

export class RerankServer {
  readonly model: CrossEncoder;
  readonly options: Required<ServerOptions>;
  readonly metrics: ServerMetrics;
  readonly #batcher: Batcher;
  readonly #http: Server;
  #inFlight = 0;
  #stopping = false;

  constructor(model: CrossEncoder, options: ServerOptions = {}) {
    this.model = model;
    // An option given as undefined (an absent CLI flag) keeps its default.
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    this.options = { ...DEFAULT_SERVER_OPTIONS, modelName: model.config.name, ...given };
    if (this.options.maxQueuedPairs < this.options.maxDocuments) {
      throw new RangeError(
        `crossrank: maxQueuedPairs (${this.options.maxQueuedPairs}) must be at least maxDocuments (${this.options.maxDocuments}), or the largest request could never be queued`,
      );
    }
    this.metrics = new ServerMetrics(
      () => this.#batcher.queuedPairs,
      () => this.#inFlight,
    );
    this.#batcher = new Batcher(model, this.options, {
      batch: (pairs, tokens, seconds) => {
        this.metrics.batchPairs.observe(pairs);
        this.metrics.batchTokens.observe(tokens);
        this.metrics.computeSeconds.observe(seconds);
      },
      queueWait: (seconds) => this.metrics.queueWait.observe(seconds),
    });
    // #handle answers every error itself; should answering fail too, the
    // connection is dropped rather than the rejection ending the process.
    this.#http = createServer((req, res) => void this.#handle(req, res).catch(() => res.destroy()));
  }

  /** Starts listening; resolves to the port (useful with port 0). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => {
        this.#http.off('error', reject);
        resolve((this.#http.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting connections, answers the requests in flight, then resolves. */
  close(): Promise<void> {
    this.#stopping = true;
    return new Promise((resolve, reject) => {
      this.#http.close((error) => (error ? reject(error) : resolve()));
      this.#http.closeIdleConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const method = ROUTES.get(path);
    const endpoint = method ? path : 'other';
    this.#inFlight++;
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new ClientGone('the client disconnected'));
    });
    const timer = setTimeout(
      () => abort.abort(new HttpError(504, `the request was not answered within ${this.options.requestTimeoutMs} ms`, 'timeout')),
      this.options.requestTimeoutMs,
    );
    try {
      if (this.#stopping) throw new HttpError(503, 'the server is shutting down', 'unavailable');
      if (!method) throw new HttpError(404, `no endpoint ${path}`, 'not_found');
      if (req.method !== method) {
        throw new HttpError(405, `${path} accepts ${method} only, got ${req.method}`, 'method_not_allowed', { Allow: method });
      }
      if (method === 'GET') {
        this.#get(path, res);
      } else {
        const body = await this.#readJson(req, abort.signal);
        this.#send(res, 200, await this.#post(path, body, abort.signal));
      }
    } catch (error) {
      this.#fail(res, error, abort.signal);
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
      // 499 (nginx's "client closed request") for a client that left before its answer.
      this.metrics.requests.inc({ endpoint, code: res.headersSent ? String(res.statusCode) : '499' });
      this.metrics.requestSeconds.observe((performance.now() - started) / 1000, { endpoint });
      if (this.#stopping) this.#http.closeIdleConnections();
    }
  }

  #get(path: string, res: ServerResponse): void {
    if (path === '/health') {
      this.#send(res, 200, { status: 'ok' });
    } else if (path === '/info') {
      const { config } = this.model;
      const cpu = cpuInfo();
      this.#send(res, 200, {
        model_id: this.options.modelName,
        model_path: config.path,
        model_type: config.modelType,
        // What the engine computes in, and what the weights file stores.
        model_dtype: config.dtype,
        weights_file_dtype: config.weightsDtype,
        num_labels: config.numLabels,
        id2label: config.id2label,
        max_input_length: config.maxLength,
        threads: this.model.threads,
        isa: cpu.isa,
        kernels: cpu.kernels,
        max_batch_tokens: this.options.maxBatchTokens,
        max_queued_pairs: this.options.maxQueuedPairs,
        max_client_batch_size: this.options.maxDocuments,
        max_request_tokens: this.options.maxRequestTokens,
        max_body_bytes: this.options.maxBodyBytes,
        request_timeout_ms: this.options.requestTimeoutMs,
        auto_truncate: this.options.autoTruncate,
        coalesce: this.options.coalesce,
      });
    } else {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(this.metrics.render());
    }
  }

  async #post(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    if (path === '/predict') {
      const request = parsePredict(body);
      const activation = request.activation ?? this.model.config.defaultActivation;
      const { scores, tokens } = await this.#score(request.pairs, request.truncate, activation, 'pairs', signal);
      const { numLabels } = this.model.config;
      const rows =
        numLabels === 1
          ? Array.from(scores)
          : request.pairs.map((_, i) => Array.from(scores.subarray(i * numLabels, (i + 1) * numLabels)));
      return { scores: rows, usage: { total_tokens: tokens } };
    }

    this.#assertOneLabel(path);
    if (path === '/rerank') {
      const request = parseTeiRerank(body);
      const activation = request.rawScores ? 'none' : this.model.config.defaultActivation;
      const pairs = request.texts.map((text): Pair => [request.query, text]);
      const { scores } = await this.#score(pairs, request.truncate, activation, 'texts', signal);
      return bestFirst(scores).map((index) =>
        request.returnText ? { index, score: scores[index], text: request.texts[index] } : { index, score: scores[index] },
      );
    }

    const request = parseCohereRerank(body);
    const pairs = request.documents.map((document): Pair => [request.query, document]);
    const { scores, tokens } = await this.#score(pairs, undefined, this.model.config.defaultActivation, 'documents', signal);
    const order = bestFirst(scores).slice(0, request.topN);
    return {
      id: randomUUID(),
      model: this.options.modelName,
      results: order.map((index) =>
        request.returnDocuments
          ? { index, relevance_score: scores[index], document: { text: request.documents[index] } }
          : { index, relevance_score: scores[index] },
      ),
      usage: { total_tokens: tokens },
    };
  }

  #assertOneLabel(path: string): void {
    const { numLabels } = this.model.config;
    if (numLabels !== 1) {
      throw new HttpError(
        400,
        `${path} needs a model with one output label; this one has ${numLabels} (use /predict)`,
        'validation',
      );
    }
  }

  /** Tokenises, checks the limits, queues the pairs and applies the activation. */
  async #score(
    pairs: Pair[],
    truncate: boolean | undefined,
    activation: Activation,
    field: string,
    signal: AbortSignal,
  ): Promise<Scored> {
    const { maxDocuments, maxRequestTokens } = this.options;
    if (pairs.length > maxDocuments) {
      throw new HttpError(413, `\`${field}\` holds ${pairs.length} items; this server accepts at most ${maxDocuments}`, 'payload_too_large');
    }
    const { maxLength } = this.model.config;
    const truncating = truncate ?? this.options.autoTruncate;
    // Without truncation, tokenising one token past the limit shows which
    // pairs are too long; pairs within it are encoded exactly as at the limit.
    const encoded = await this.model.tokenizeAsync(pairs, truncating ? {} : { maxLength: maxLength + 1 });
    let tokens = 0;
    encoded.lengths.forEach((length, i) => {
      if (length > maxLength) {
        throw new HttpError(
          413,
          `\`${field}[${i}]\` is longer than the model's ${maxLength} tokens and truncate is false`,
          'payload_too_large',
        );
      }
      tokens += length;
    });
    if (tokens > maxRequestTokens) {
      throw new HttpError(413, `the request holds ${tokens} tokens; this server accepts at most ${maxRequestTokens}`, 'payload_too_large');
    }
    const scores = await this.#batcher.submit(encoded, signal);
    applyActivation(scores, this.model.config.numLabels, activation);
    this.metrics.pairs.inc({}, pairs.length);
    this.metrics.tokens.inc({}, tokens);
    return { scores, tokens };
  }

  #readJson(req: IncomingMessage, signal: AbortSignal): Promise<unknown> {
    const limit = this.options.maxBodyBytes;
    const tooLarge = (): HttpError =>
      new HttpError(413, `the request body exceeds ${limit} bytes`, 'payload_too_large', { Connection: 'close' });
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > limit) {
          req.off('data', onData);
          reject(tooLarge());
        } else {
          chunks.push(chunk);
        }
      };
      req.on('data', onData);
      req.once('error', reject);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      req.once('end', () => {
        if (size > limit) return;
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(new HttpError(400, `the request body is not valid JSON: ${(error as Error).message}`, 'validation'));
        }
      });
    });
  }

  #fail(res: ServerResponse, error: unknown, signal: AbortSignal): void {
    if (signal.aborted && signal.reason instanceof ClientGone) {
      this.metrics.dropped.inc({ reason: 'disconnect' });
      return;
    }
    let answer: HttpError;
    if (error instanceof HttpError) {
      answer = error;
      if (error.errorType === 'timeout') this.metrics.dropped.inc({ reason: 'timeout' });
    } else if (error instanceof QueueFullError) {
      answer = new HttpError(503, `the server is busy: ${error.message}`, 'overloaded', { 'Retry-After': '1' });
    } else {
      answer = new HttpError(500, `internal error: ${(error as Error)?.message ?? String(error)}`, 'backend');
    }
    this.#send(res, answer.status, { error: answer.message, error_type: answer.errorType }, answer.headers);
    // A body left unread (413) must not be parsed as the next request.
    if (answer.headers['Connection'] === 'close') res.once('finish', () => res.req.destroy());
  }

  #send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(json),
      ...(this.#stopping ? { Connection: 'close' } : {}),
      ...headers,
    });
    res.end(json);
  }
}

/** Indices of `scores` from the highest score down; ties keep input order. */
function bestFirst(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}
