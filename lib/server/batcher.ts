/**
 * Dynamic batching across requests. Every request's pairs are tokenised by
 * the request handler and queued here; one engine batch runs at a time (the
 * engine already uses every thread), filled from the oldest request first up
 * to a token budget, so a burst of small requests shares batches the way one
 * large request would. The engine scores each packed sequence on its own, so
 * a request's logits do not depend on which other pairs shared its batches.
 */
import { performance } from 'node:perf_hooks';

import { copyRow, gatherSequences, longestFirst, type PackedSequences, withOffsets } from '../batching.js';
import type { CrossEncoder, EncodedPairs } from '../cross-encoder.js';

export interface BatcherOptions {
  /** Upper bound on the tokens of one engine batch (a longer single pair still runs, alone). */
  maxBatchTokens: number;
  /** Pairs that may wait for the engine at once; `submit` refuses more with QueueFullError. */
  maxQueuedPairs: number;
  /** false: never mix requests in one batch (one request at a time, for comparison). */
  coalesce: boolean;
}

/** What the batcher reports, for /metrics. */
export interface BatcherObserver {
  batch(pairs: number, tokens: number, computeSeconds: number): void;
  queueWait(seconds: number): void;
}

/** The queue cannot take a request: the server answers 429 with Retry-After. */
export class QueueFullError extends Error {
  constructor(
    message: string,
    /** Seconds until the queue should have room again (at least 1), for Retry-After. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'QueueFullError';
  }
}

/** Weight of the newest batch in the running estimate of engine seconds per token. */
const RATE_SMOOTHING = 0.2;

interface Job {
  /** The request's tokenized pairs. */
  packed: PackedSequences;
  /** The job's pairs, longest first: the order they are handed to batches. */
  order: Uint32Array;
  /** How many of `order` have been handed to a batch. */
  scheduled: number;
  /** How many pairs have their logits. */
  finished: number;
  logits: Float32Array;
  enqueuedAt: number;
  settled: boolean;
  resolve(logits: Float32Array): void;
  reject(error: unknown): void;
}

interface Picked {
  job: Job;
  pair: number;
  length: number;
}

export class Batcher {
  readonly #model: CrossEncoder;
  readonly #options: BatcherOptions;
  readonly #observer: BatcherObserver | undefined;
  /** Jobs with pairs not yet handed to a batch, oldest first. */
  #waiting: Job[] = [];
  #queuedPairs = 0;
  #queuedTokens = 0;
  #running = false;
  /** Tokens of the batch in the engine, and when it started. */
  #runningTokens = 0;
  #runningSince = 0;
  /** Engine seconds per token, smoothed over batches; undefined until one batch has run. */
  #secondsPerToken: number | undefined;
  /** The same for the latest batch alone. */
  #lastSecondsPerToken = 0;

  constructor(model: CrossEncoder, options: BatcherOptions, observer?: BatcherObserver) {
    this.#model = model;
    this.#options = options;
    this.#observer = observer;
  }

  /** Pairs waiting for the engine. */
  get queuedPairs(): number {
    return this.#queuedPairs;
  }

  /** Tokens waiting for the engine. */
  get queuedTokens(): number {
    return this.#queuedTokens;
  }

  /** The measured engine rate (seconds per token), undefined before the first batch. */
  get secondsPerToken(): number | undefined {
    return this.#secondsPerToken;
  }

  /**
   * Seconds until the engine would finish the work now queued or running plus
   * `extraTokens`, at the measured rate; 0 before any batch has been measured.
   */
  backlogSeconds(extraTokens = 0): number {
    if (this.#secondsPerToken === undefined) return 0;
    // The slower of the smoothed and the latest rate: on a machine whose other
    // load comes and goes, under-estimating the backlog is what times requests out.
    const rate = Math.max(this.#secondsPerToken, this.#lastSecondsPerToken);
    const running = this.#running
      ? Math.max(0, this.#runningTokens * rate - (performance.now() - this.#runningSince) / 1000)
      : 0;
    return running + (this.#queuedTokens + extraTokens) * rate;
  }

  /**
   * Runs a batch outside any request, to measure the engine rate before
   * traffic: twice, timing the second, as the first also pays for warming up
   * (the weights' pages, the thread pool).
   */
  async calibrate(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Promise<void> {
    await this.#model.runBatch(ids, typeIds, lengths);
    const started = performance.now();
    await this.#model.runBatch(ids, typeIds, lengths);
    this.#observeRate(ids.length, (performance.now() - started) / 1000);
  }

  #observeRate(tokens: number, seconds: number): void {
    if (tokens === 0) return;
    const rate = seconds / tokens;
    this.#lastSecondsPerToken = rate;
    this.#secondsPerToken =
      this.#secondsPerToken === undefined ? rate : RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * this.#secondsPerToken;
  }

  /**
   * Queues a request's tokenised pairs; resolves to their raw logits in input
   * order (`numLabels` per pair). Aborting `signal` drops the pairs that have
   * not reached the engine yet and rejects with the signal's reason.
   */
  submit(encoded: EncodedPairs, signal?: AbortSignal): Promise<Float32Array> {
    const count = encoded.lengths.length;
    const { numLabels } = this.#model.config;
    if (count === 0) return Promise.resolve(new Float32Array(0));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queuedPairs + count > this.#options.maxQueuedPairs) {
      const message = `the queue holds ${this.#queuedPairs} pairs; ${count} more would exceed its bound of ${this.#options.maxQueuedPairs}`;
      return Promise.reject(new QueueFullError(message, Math.max(1, Math.ceil(this.backlogSeconds()))));
    }
    let tokens = 0;
    for (const length of encoded.lengths) tokens += length;

    const packed = withOffsets(encoded);
    const order = longestFirst(encoded.lengths);

    return new Promise<Float32Array>((resolve, reject) => {
      const job: Job = {
        packed,
        order,
        scheduled: 0,
        finished: 0,
        logits: new Float32Array(count * numLabels),
        enqueuedAt: performance.now(),
        settled: false,
        resolve,
        reject,
      };
      const onAbort = (): void => this.#drop(job, signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      job.resolve = (logits) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(logits);
      };
      job.reject = (error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      this.#waiting.push(job);
      this.#queuedPairs += count;
      this.#queuedTokens += tokens;
      this.#pump();
    });
  }

  /** Settles a job early: its unscheduled pairs leave the queue; results of its running pairs are ignored. */
  #drop(job: Job, reason: unknown): void {
    if (job.settled) return;
    job.settled = true;
    const at = this.#waiting.indexOf(job);
    if (at >= 0) {
      this.#waiting.splice(at, 1);
      this.#queuedPairs -= job.order.length - job.scheduled;
      for (let i = job.scheduled; i < job.order.length; i++) this.#queuedTokens -= job.packed.lengths[job.order[i]!]!;
    }
    job.reject(reason);
  }

  #pump(): void {
    if (this.#running || this.#waiting.length === 0) return;
    this.#running = true;
    const picked = this.#pick();
    void this.#run(picked).finally(() => {
      this.#running = false;
      this.#pump();
    });
  }

  /** The next batch: pairs of the oldest jobs first, each job's longest first, up to the token budget. */
  #pick(): Picked[] {
    const picked: Picked[] = [];
    let tokens = 0;
    let full = false;
    while (!full && this.#waiting.length > 0) {
      const job = this.#waiting[0]!;
      if (job.scheduled === 0) this.#observer?.queueWait((performance.now() - job.enqueuedAt) / 1000);
      while (job.scheduled < job.order.length) {
        const pair = job.order[job.scheduled]!;
        const length = job.packed.lengths[pair]!;
        if (picked.length > 0 && tokens + length > this.#options.maxBatchTokens) {
          full = true;
          break;
        }
        picked.push({ job, pair, length });
        tokens += length;
        job.scheduled++;
        this.#queuedPairs--;
        this.#queuedTokens -= length;
      }
      if (job.scheduled === job.order.length) this.#waiting.shift();
      if (!this.#options.coalesce) break;
    }
    // Longest first across requests too, as predict orders a single request.
    return picked.sort((a, b) => b.length - a.length);
  }

  async #run(picked: Picked[]): Promise<void> {
    const { ids, typeIds, lengths } = gatherSequences(picked.map((p) => ({ from: p.job.packed, index: p.pair })));
    const tokens = ids.length;

    const { numLabels } = this.#model.config;
    const started = performance.now();
    this.#runningTokens = tokens;
    this.#runningSince = started;
    let logits: Float32Array;
    try {
      logits = await this.#model.runBatch(ids, typeIds, lengths);
    } catch (error) {
      for (const p of picked) this.#drop(p.job, error);
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    this.#observeRate(tokens, seconds);
    this.#observer?.batch(picked.length, tokens, seconds);
    picked.forEach((p, j) => {
      if (p.job.settled) return;
      copyRow(logits, j, p.job.logits, p.pair, numLabels);
      p.job.finished++;
      if (p.job.finished === p.job.order.length) {
        p.job.settled = true;
        p.job.resolve(p.job.logits);
      }
    });
  }
}
