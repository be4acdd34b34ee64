/**
 * The rerank HTTP server, on Node's own http module: TEI's /rerank, Cohere's
 * and Jina's /v1/rerank, /predict for raw pairs, /health, /info and /metrics.
 * Every scoring request goes through one Batcher, so concurrent requests share
 * engine batches.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

import { type Activation, applyActivation } from '../activation.js';
import { type CrossEncoder, DEFAULT_MAX_BATCH_TOKENS, type Pair } from '../cross-encoder.js';
import { cpuInfo } from '../info.js';
import { Batcher, QueueFullError } from './batcher.js';
import { Connections, defaultMaxConnections } from './connections.js';
import { ServerMetrics } from './metrics.js';
import { hasField, HttpError, parseCohereRerank, parsePredict, parseTeiPredict, parseTeiRerank } from './requests.js';
import { firstInvalidUtf8, weightsFileDtype } from './text.js';

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
  /**
   * Queue-time budget: a request whose pairs, behind the work already queued,
   * would not be through the engine this long after it arrived (at the
   * measured engine rate) is refused at once with 429 and Retry-After.
   * Default: a third of requestTimeoutMs, so an estimate off by 3x (a busy
   * machine) still answers in time.
   */
  maxQueueMs?: number;
  /** After close() (SIGTERM), requests still unanswered this long are cut and the server stops. */
  drainTimeoutMs?: number;
  /** A connection that has not sent a request's headers this long is closed (Node answers 408). */
  headersTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this long (default above load balancers' idle timeouts). */
  keepAliveTimeoutMs?: number;
  /**
   * Open connections at most. Past it the oldest connection without a request
   * in progress is closed to make room; when every one is busy the new one
   * gets 503. Default: 16384, or less to stay under the open-files limit.
   */
  maxConnections?: number;
  /** One line per answered request (method, path, status, pairs, ms): true for stdout, or a function given each line. */
  requestLog?: boolean | ((line: string) => void);
  /** The name answered as `model` (default: the model folder's name). */
  modelName?: string;
}

type Defaulted = Required<Omit<ServerOptions, 'modelName' | 'maxQueueMs' | 'maxConnections'>>;

export const DEFAULT_SERVER_OPTIONS: Defaulted = {
  maxBatchTokens: DEFAULT_MAX_BATCH_TOKENS,
  maxQueuedPairs: 8192,
  coalesce: true,
  maxBodyBytes: 2 * 1024 * 1024,
  maxDocuments: 1000,
  maxRequestTokens: 256 * 1024,
  requestTimeoutMs: 30_000,
  autoTruncate: true,
  // Kubernetes' default termination grace period is 30 s: drain well inside it.
  drainTimeoutMs: 20_000,
  headersTimeoutMs: 5_000,
  // ALB's default idle timeout and nginx's upstream keepalive_timeout are 60 s:
  // the proxy must be the side that closes an idle connection, or it may send
  // a request on a connection the server is closing.
  keepAliveTimeoutMs: 65_000,
  requestLog: false,
};

/** Tokens per request-body byte assumed before any request has been measured (English JSON). */
const INITIAL_TOKENS_PER_BYTE = 0.25;
/** How long an answered request's unread body is drained before its connection is closed. */
const LINGER_MS = 2000;
/** The longest Retry-After a refusal gives (see #retryAfter). */
const MAX_RETRY_AFTER_SECONDS = 60;
/** Node checks the header and request timeouts this often. */
const CONNECTION_CHECK_MS = 1000;

/** Path -> method. A Map, so that no request path can reach Object.prototype. */
const ROUTES = new Map([
  ['/rerank', 'POST'],
  ['/v1/rerank', 'POST'],
  ['/v2/rerank', 'POST'],
  ['/predict', 'POST'],
  ['/health', 'GET'],
  ['/info', 'GET'],
  ['/metrics', 'GET'],
]);

/** Why a request's work was dropped before it was answered. */
class ClientGone extends Error {}

/** What one request carries through its handling. */
interface RequestContext {
  started: number;
  /** When the request's queue-time budget starts: its arrival, or the end of its hold (#holdEarlyReturn). */
  queueFrom: number;
  signal: AbortSignal;
  /** Pairs the request asked to score (for the request log). */
  pairs: number;
  /** Size of the body read. */
  bodyBytes: number;
}

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
  readonly #connections: Connections;
  readonly #log: ((line: string) => void) | undefined;
  #inFlight = 0;
  #stopping = false;
  #closed: Promise<void> | undefined;
  /** Tokens per body byte of the requests scored so far, smoothed: sizes a body before it is read. */
  #tokensPerByte = INITIAL_TOKENS_PER_BYTE;
  /** When (performance.now() in seconds) the next refused client is told to come back; see #retryAfter. */
  #nextReturnAt = 0;
  /** Per connection, when (performance.now() in ms) its last refusal told it to come back; see #holdEarlyReturn. */
  readonly #toldToReturnAt = new WeakMap<Socket, number>();
  /** Aborted by close(): requests held by #holdEarlyReturn go on at once (to their 503). */
  readonly #stopSignal = new AbortController();
  /** The weights file's dtype as /info reports it, read once. */
  #weightsFileDtype: string | undefined;

  constructor(model: CrossEncoder, options: ServerOptions = {}) {
    this.model = model;
    // An option given as undefined (an absent CLI flag) keeps its default.
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    const merged: Defaulted & ServerOptions = { ...DEFAULT_SERVER_OPTIONS, modelName: model.config.name, ...given };
    this.options = {
      ...merged,
      modelName: merged.modelName ?? model.config.name,
      maxQueueMs: merged.maxQueueMs ?? Math.floor(merged.requestTimeoutMs / 3),
      maxConnections: merged.maxConnections ?? defaultMaxConnections(),
    };
    if (this.options.maxQueuedPairs < this.options.maxDocuments) {
      throw new RangeError(
        `crossrank: maxQueuedPairs (${this.options.maxQueuedPairs}) must be at least maxDocuments (${this.options.maxDocuments}), or the largest request could never be queued`,
      );
    }
    if (this.options.maxQueueMs > this.options.requestTimeoutMs) {
      throw new RangeError(
        `crossrank: maxQueueMs (${this.options.maxQueueMs}) must not exceed requestTimeoutMs (${this.options.requestTimeoutMs}), or queued requests would time out`,
      );
    }
    const { requestLog } = this.options;
    this.#log = requestLog === true ? (line) => process.stdout.write(`${line}\n`) : requestLog || undefined;
    this.metrics = new ServerMetrics(
      () => this.#batcher.queuedPairs,
      () => this.#inFlight,
      () => this.#connections.size,
    );
    this.#batcher = new Batcher(model, this.options, {
      batch: (pairs, tokens, seconds) => {
        this.metrics.batchPairs.observe(pairs);
        this.metrics.batchTokens.observe(tokens);
        this.metrics.computeSeconds.observe(seconds);
      },
      queueWait: (seconds) => this.metrics.queueWait.observe(seconds),
    });
    const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = this.options;
    this.#http = createServer({
      // Node's own timeouts, checked every CONNECTION_CHECK_MS: a connection
      // that has not sent its headers in time, or a whole request (a body
      // trickled byte by byte), gets 408 and is closed.
      headersTimeout: Math.min(headersTimeoutMs, requestTimeoutMs),
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: CONNECTION_CHECK_MS,
    });
    this.#connections = new Connections(this.#http, this.options.maxConnections, () => this.metrics.refusedConnections.inc());
    // #handle answers every error itself; should answering fail too, the
    // connection is dropped rather than the rejection ending the process.
    const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void =>
      void this.#handle(req, res, expectsContinue).catch(() => res.destroy());
    this.#http.on('request', (req, res) => onRequest(req, res, false));
    // With a listener here Node does not send "100 Continue" by itself: a body
    // declared over the limit, or one the queue could not take, is refused first.
    this.#http.on('checkContinue', (req, res) => onRequest(req, res, true));
  }

  /** Measures the engine rate on one batch (the queue-time budget needs it), then listens; resolves to the port. */
  async listen(port: number, host: string): Promise<number> {
    await this.#calibrate();
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => {
        this.#http.off('error', reject);
        resolve((this.#http.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting connections and closes every one without a request in
   * progress (idle keep-alive, or not a byte sent yet), answers the requests
   * in progress, and resolves once every connection is closed. Requests still
   * unanswered after drainTimeoutMs are cut.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#stopping = true;
    this.#stopSignal.abort();
    const closed = new Promise<void>((resolve, reject) => {
      this.#http.close((error) => (error ? reject(error) : resolve()));
    });
    this.#connections.closeIdle();
    const deadline = setTimeout(() => this.#connections.closeAll(), this.options.drainTimeoutMs);
    this.#closed = closed.finally(() => {
      clearTimeout(deadline);
      this.metrics.dispose();
    });
    return this.#closed;
  }

  async #calibrate(): Promise<void> {
    const { maxLength, vocabSize } = this.model.config;
    const length = Math.min(128, maxLength);
    const count = 8;
    const ids = Uint32Array.from({ length: length * count }, (_, i) => (i * 7919) % vocabSize);
    const lengths = new Uint32Array(count).fill(length);
    await this.#batcher.calibrate(ids, new Uint8Array(ids.length), lengths);
  }

  async #handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    if (!this.#connections.begin(req.socket, res)) return; // a refused connection: its 503 is on the way
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const method = ROUTES.get(path);
    const endpoint = method ? path : 'other';
    this.#inFlight++;
    const abort = new AbortController();
    const context: RequestContext = { started, queueFrom: started, signal: abort.signal, pairs: 0, bodyBytes: 0 };
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
        if (await this.#holdEarlyReturn(req.socket, abort.signal)) {
          context.queueFrom = performance.now();
          if (this.#stopping) throw new HttpError(503, 'the server is shutting down', 'unavailable');
        }
        const body = await this.#readJson(req, res, expectsContinue, context);
        this.#send(res, 200, await this.#post(path, body, context));
      }
    } catch (error) {
      this.#fail(res, error, abort.signal, path);
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
      const status = res.headersSent ? String(res.statusCode) : '499';
      // 499 (nginx's "client closed request") for a client that left before its answer.
      this.metrics.requests.inc({ endpoint, code: status });
      const ms = performance.now() - started;
      this.metrics.requestSeconds.observe(ms / 1000, { endpoint });
      this.#log?.(`${new Date().toISOString()} ${req.method} ${path} ${status} pairs=${context.pairs} ms=${ms.toFixed(1)}`);
    }
  }

  /**
   * Refuses a request the queue could not answer within the queue-time
   * budget, with QueueFullError (429). `ownTokens` is the request's size,
   * estimated from its body before parsing or counted after tokenising.
   */
  #admit(ownTokens: number, started: number): void {
    const backlog = this.#batcher.backlogSeconds();
    // With nothing ahead of it a request is always taken, however large:
    // refusing it would only mean refusing it again.
    if (backlog === 0) return;
    const now = performance.now() / 1000;
    const budget = this.options.maxQueueMs / 1000 - (now - started / 1000);
    const finish = this.#batcher.backlogSeconds(ownTokens);
    if (finish <= budget) return;
    const own = finish - backlog;
    throw new QueueFullError(
      `the queue holds ${backlog.toFixed(1)} s of engine work; this request (~${own.toFixed(1)} s) would not reach the ` +
        `engine within the ${this.options.maxQueueMs} ms queue budget`,
      this.#retryAfter(now, finish - budget, own),
    );
  }

  /**
   * Holds a request that came back on its connection before the Retry-After
   * that connection was given (load generators and naive retry loops ignore
   * it) until that time, its body unread; true if it was held. Refused at
   * once, such a client would only send again at once: a flood of refusals
   * that takes the CPU the engine needs. A client that honours Retry-After
   * never waits here. At most maxQueueMs, and never past shutdown or the
   * request's own timeout; the request is then admitted or refused as any.
   */
  async #holdEarlyReturn(socket: Socket, signal: AbortSignal): Promise<boolean> {
    const returnAt = this.#toldToReturnAt.get(socket);
    if (returnAt === undefined) return false;
    this.#toldToReturnAt.delete(socket);
    const wait = Math.min(returnAt - performance.now(), this.options.maxQueueMs);
    if (wait <= 0) return false;
    this.metrics.heldRequests.inc();
    await new Promise<void>((resolve) => {
      const stop = this.#stopSignal.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        stop.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      signal.addEventListener('abort', done, { once: true });
      stop.addEventListener('abort', done, { once: true });
    });
    signal.throwIfAborted();
    return true;
  }

  /**
   * Retry-After for a refused request that would fit in `wait` seconds and
   * needs `own` seconds of engine. Told the same wait, every refused client
   * of a busy moment would come back at once and all but one be refused
   * again, each refusal costing CPU the engine needs. So the refused are
   * given successive return times, each after the room the clients told
   * before it will take, and come back about one at a time: a virtual queue
   * in front of the real one. Capped, so that a burst of clients that never
   * return does not push the next ones out for long.
   */
  #retryAfter(now: number, wait: number, own: number): number {
    const returnAt = Math.min(Math.max(this.#nextReturnAt, now + wait), now + MAX_RETRY_AFTER_SECONDS);
    this.#nextReturnAt = returnAt + own;
    // Clamped after rounding up: returnAt - now can exceed the cap by a rounding error.
    return Math.max(1, Math.min(MAX_RETRY_AFTER_SECONDS, Math.ceil(returnAt - now)));
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
        // TEI's shape: the kind of model with its labels (a reranker has one label).
        model_type:
          config.numLabels === 1
            ? { reranker: { id2label: config.id2label, label2id: label2id(config.id2label) } }
            : { classifier: { id2label: config.id2label, label2id: label2id(config.id2label) } },
        architecture: config.modelType,
        // What the engine computes in, and what the weights file stores.
        model_dtype: config.dtype,
        weights_file_dtype: (this.#weightsFileDtype ??= weightsFileDtype(config.path, config.weightsDtype)),
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
        max_queue_ms: this.options.maxQueueMs,
        drain_timeout_ms: this.options.drainTimeoutMs,
        headers_timeout_ms: this.options.headersTimeoutMs,
        keep_alive_timeout_ms: this.options.keepAliveTimeoutMs,
        max_connections: this.options.maxConnections,
        auto_truncate: this.options.autoTruncate,
        coalesce: this.options.coalesce,
      });
    } else {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(this.metrics.render());
    }
  }

  /** One route may serve several APIs' bodies: the field that each requires says which was sent. */
  async #post(path: string, body: unknown, context: RequestContext): Promise<unknown> {
    if (path === '/predict') return hasField(body, 'inputs') ? this.#teiPredict(body, context) : this.#predict(body, context);
    this.#assertOneLabel(path);
    if (path === '/rerank') {
      // TEI sends `texts`; Infinity (and LiteLLM's infinity/ provider) `documents`.
      return hasField(body, 'documents') && !hasField(body, 'texts') ? this.#cohereRerank(body, 'infinity', context) : this.#teiRerank(body, context);
    }
    return this.#cohereRerank(body, path === '/v2/rerank' ? 'cohere-v2' : 'cohere-v1', context);
  }

  /** crossrank's own `/predict`: `{pairs}` → `{scores, usage}`. */
  async #predict(body: unknown, context: RequestContext): Promise<unknown> {
    const request = parsePredict(body);
    const activation = request.activation ?? this.model.config.defaultActivation;
    const { scores, tokens } = await this.#score(request.pairs, request.truncate, activation, 'pairs', context);
    const { numLabels } = this.model.config;
    const rows =
      numLabels === 1
        ? Array.from(scores)
        : request.pairs.map((_, i) => Array.from(scores.subarray(i * numLabels, (i + 1) * numLabels)));
    return { scores: rows, usage: { total_tokens: tokens } };
  }

  /** TEI `/predict`: `{inputs}` → `[{score, label}]` per pair, labels best first. */
  async #teiPredict(body: unknown, context: RequestContext): Promise<unknown> {
    const request = parseTeiPredict(body);
    const { numLabels, id2label } = this.model.config;
    const activation = request.rawScores ? 'none' : this.model.config.defaultActivation;
    const { scores } = await this.#score(request.pairs, request.truncate, activation, 'inputs', context);
    const rows = request.pairs.map((_, i) =>
      Array.from(scores.subarray(i * numLabels, (i + 1) * numLabels), (score, label) => ({
        score,
        label: id2label[label] ?? `LABEL_${label}`,
      })).sort((a, b) => b.score - a.score),
    );
    return request.batch ? rows : rows[0];
  }

  /** TEI `/rerank`: `{query, texts}` → `[{index, score, text?}]`, best first. */
  async #teiRerank(body: unknown, context: RequestContext): Promise<unknown> {
    const request = parseTeiRerank(body);
    const activation = request.rawScores ? 'none' : this.model.config.defaultActivation;
    const pairs = request.texts.map((text): Pair => [request.query, text]);
    const { scores } = await this.#score(pairs, request.truncate, activation, 'texts', context);
    return bestFirst(scores)
      .slice(0, request.topN)
      .map((index) => (request.returnText ? { index, score: scores[index], text: request.texts[index] } : { index, score: scores[index] }));
  }

  /**
   * `{query, documents}` bodies: Cohere v1 and Jina (`/v1/rerank`, documents
   * returned as `{text}`), Cohere v2 (`/v2/rerank`) and Infinity (`/rerank`,
   * documents returned as plain strings).
   */
  async #cohereRerank(body: unknown, api: 'cohere-v1' | 'cohere-v2' | 'infinity', context: RequestContext): Promise<unknown> {
    const request = parseCohereRerank(body);
    const pairs = request.documents.map((document): Pair => [request.query, document]);
    const { scores, tokens } = await this.#score(pairs, undefined, this.model.config.defaultActivation, 'documents', context, {
      maxTokensPerDoc: request.maxTokensPerDoc,
    });
    const order = bestFirst(scores).slice(0, request.topN);
    const results = order.map((index) => {
      const result: Record<string, unknown> = { index, relevance_score: scores[index] };
      if (request.returnDocuments) {
        const text = request.documents[index];
        result['document'] = api === 'infinity' ? text : { text };
      }
      return result;
    });
    const id = randomUUID();
    if (api === 'infinity') {
      return {
        object: 'rerank',
        id,
        created: Math.floor(Date.now() / 1000),
        model: this.options.modelName,
        results,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    }
    return {
      id,
      model: this.options.modelName,
      results,
      // Cohere's meta (one search unit per request of up to 100 documents) beside Jina's usage.
      meta: {
        api_version: { version: api === 'cohere-v2' ? '2' : '1' },
        billed_units: { search_units: Math.max(1, Math.ceil(request.documents.length / 100)) },
      },
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
    context: RequestContext,
    // Cohere's max_tokens_per_doc as the rank option maxTokensPerDoc. Checked
    // and carried here; windowing long documents is the library's (not yet on
    // this branch), so today a document past the model's window is truncated.
    _rankOptions: { maxTokensPerDoc?: number | undefined } = {},
  ): Promise<Scored> {
    const { maxDocuments, maxRequestTokens } = this.options;
    context.pairs = pairs.length;
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
    if (context.bodyBytes > 0) {
      this.#tokensPerByte = 0.8 * this.#tokensPerByte + 0.2 * (tokens / context.bodyBytes);
    }
    this.#admit(tokens, context.queueFrom);
    const scores = await this.#batcher.submit(encoded, context.signal);
    applyActivation(scores, this.model.config.numLabels, activation);
    this.metrics.pairs.inc({}, pairs.length);
    this.metrics.tokens.inc({}, tokens);
    return { scores, tokens };
  }

  /**
   * Reads and parses the body. Before a byte of it is read, a body declared
   * over the limit gets 413 and one the queue could not take 429; with
   * `Expect: 100-continue` the client is told to send only after both checks.
   */
  #readJson(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean, context: RequestContext): Promise<unknown> {
    const limit = this.options.maxBodyBytes;
    const tooLarge = (): HttpError =>
      new HttpError(413, `the request body exceeds ${limit} bytes`, 'payload_too_large');
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return Promise.reject(tooLarge());
    try {
      // Sized from its declared length (chunked bodies count as empty here and are checked once tokenised).
      this.#admit(Number.isFinite(declared) ? declared * this.#tokensPerByte : 0, context.queueFrom);
    } catch (error) {
      return Promise.reject(error);
    }
    if (expectsContinue) res.writeContinue();
    const { signal } = context;
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
        const body = Buffer.concat(chunks);
        context.bodyBytes = body.length;
        // Decoding would replace bad bytes with U+FFFD and score (and echo) text the client never sent.
        if (!isUtf8(body)) {
          const at = firstInvalidUtf8(body);
          reject(
            new HttpError(
              400,
              `the request body is not valid UTF-8: invalid byte 0x${body[at]!.toString(16).padStart(2, '0')} at offset ${at}`,
              'validation',
            ),
          );
          return;
        }
        try {
          resolve(JSON.parse(body.toString('utf8')));
        } catch (error) {
          reject(new HttpError(400, `the request body is not valid JSON: ${(error as Error).message}`, 'validation'));
        }
      });
    });
  }

  #fail(res: ServerResponse, error: unknown, signal: AbortSignal, path: string): void {
    if (signal.aborted && signal.reason instanceof ClientGone) {
      this.metrics.dropped.inc({ reason: 'disconnect' });
      return;
    }
    let answer: HttpError;
    if (error instanceof HttpError) {
      answer = error;
      if (error.errorType === 'timeout') this.metrics.dropped.inc({ reason: 'timeout' });
    } else if (error instanceof QueueFullError) {
      // 429, as TEI and Cohere answer when overloaded.
      this.metrics.dropped.inc({ reason: 'overloaded' });
      if (res.socket) this.#toldToReturnAt.set(res.socket, performance.now() + 1000 * error.retryAfterSeconds);
      answer = new HttpError(429, `the server is overloaded: ${error.message}`, 'overloaded', {
        'Retry-After': String(error.retryAfterSeconds),
      });
    } else {
      answer = new HttpError(500, `internal error: ${(error as Error)?.message ?? String(error)}`, 'backend');
    }
    if (path === '/v1/rerank' || path === '/v2/rerank') {
      // Cohere's shape: `{message}`, and no 413 among its codes (its SDKs know
      // 400, 404, 422, 429, 499, 500, 503, 504...): a request too large is a 400.
      // /v1/rerank keeps crossrank's fields beside it for the clients that read them.
      const status = answer.status === 413 ? 400 : answer.status;
      const body =
        path === '/v2/rerank'
          ? { message: answer.message }
          : { message: answer.message, error: answer.message, error_type: answer.errorType };
      this.#send(res, status, body, answer.headers);
    } else {
      this.#send(res, answer.status, { error: answer.message, error_type: answer.errorType }, answer.headers);
    }
    // A body left unread (413, 429 before reading) is read and dropped for a
    // moment, then the connection is closed if it has not ended: closing at
    // once, with the client still sending, resets the connection and can take
    // the answer with it before the client reads it.
    const req = res.req;
    if (!req.complete) {
      req.resume();
      const linger = setTimeout(() => {
        if (!req.complete) req.socket.destroy();
      }, LINGER_MS);
      req.once('end', () => clearTimeout(linger));
      req.once('close', () => clearTimeout(linger));
    }
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

function label2id(id2label: Record<number, string>): Record<string, number> {
  return Object.fromEntries(Object.entries(id2label).map(([id, label]) => [label, Number(id)]));
}

/** Indices of `scores` from the highest score down; ties keep input order. */
function bestFirst(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
}
