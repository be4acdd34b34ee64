/**
 * One open model: the native engine model, its tokenizer, the queue its
 * engine calls wait in, and dispose. CrossEncoder and SentenceEncoder each
 * own a session and add only what is theirs (inputs, options, what they do
 * with the output rows); loading, tokenizing, running batches sync or async,
 * and turning native errors into crossrank's (errors.ts fromNative) happen
 * here, once.
 *
 * `ModelSession.load` is the one path from a model source to an open model:
 * a new way of naming a model (another source than a folder path) or a new
 * load step goes there, with its options in lib/load-options.ts.
 */
import { type Batch } from './batching.js';
import { type BatchedCall, runBatched, runBatchedSync } from './batched-run.js';
import { type CallCaps, checkItemLimit } from './call-limits.js';
import { DisposedError, fromNative } from './errors.js';
import { loadNativeModel, loadTokenizer, modelFolder, type NativeLoadOptions } from './model-folder.js';
import type { EncodedPairs, NativeModel, NativeModelConfig, NativeTokenizer, Pooling, Truncation } from './native.js';

/** A call's inputs: pairs (cross-encoder) or single texts (bi-encoder). */
export type Items =
  | { kind: 'pairs'; firsts: readonly string[]; seconds: readonly string[]; truncation: Truncation }
  | { kind: 'texts'; texts: readonly string[] };

/** What a call returns per item: the classifier's logits, or pooled hidden states after a layer. */
export type Output = { kind: 'logits' } | { kind: 'hidden'; layer: number; pooling: Pooling };

export const LOGITS: Output = { kind: 'logits' };

/** How one call is bounded and watched. */
export interface CallOptions {
  caps: CallCaps;
  /** Upper bound on the tokens of one engine call. */
  maxBatchTokens: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export interface SessionCall extends CallOptions {
  /** The call's inputs as given; an array's length is checked against the cap before `items` runs. */
  input: unknown;
  /** Checks the inputs and turns them into items. */
  items: () => Items;
  output: Output;
  /** Longest tokenized item. */
  maxLength: number;
}

/** What a session is opened with (from ResolvedLoadOptions). */
export type SessionOptions = NativeLoadOptions;

export class ModelSession {
  /** Absolute path of the model folder. */
  readonly dir: string;
  /** What the engine read from config.json. */
  readonly native: NativeModelConfig;
  readonly #model: NativeModel;
  readonly #tokenizer: NativeTokenizer;
  #disposed = false;
  #queueTail: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, model: NativeModel, tokenizer: NativeTokenizer) {
    this.dir = dir;
    this.native = model.config;
    this.#model = model;
    this.#tokenizer = tokenizer;
  }

  /**
   * Opens the model at `source` (a folder path), then lets `describe` read
   * what else the caller needs from the folder; if anything fails, the
   * native model is freed before the error propagates.
   */
  static load<T>(
    source: string,
    options: SessionOptions,
    describe: (session: ModelSession) => T,
  ): { session: ModelSession; described: T } {
    const dir = modelFolder(source);
    const model = loadNativeModel(dir, options);
    let session: ModelSession;
    try {
      session = new ModelSession(dir, model, loadTokenizer(dir));
    } catch (error) {
      model.dispose();
      throw error;
    }
    try {
      return { session, described: describe(session) };
    } catch (error) {
      session.dispose();
      throw error;
    }
  }

  /** Which tokenizer file was loaded: tokenizer.json, or vocab.txt. */
  get tokenizerSource(): string {
    return this.#tokenizer.source;
  }

  /** tokenizer_config.json's model_max_length, if it set a usable one. */
  get tokenizerMaxLength(): number | null {
    return this.#tokenizer.modelMaxLength;
  }

  /** Threads of this model's native pool. */
  get threads(): number {
    return this.#model.threads;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Frees the native model now; later calls throw DisposedError. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#model.dispose();
  }

  // An arrow function: it is handed to the shared batching code.
  readonly assertUsable = (): void => {
    if (this.#disposed) throw new DisposedError();
  };

  /** Tokenizes all `items` on the calling thread. */
  tokenize(items: Items, maxLength: number): EncodedPairs {
    this.assertUsable();
    return this.#tokenizeRange(items, maxLength, 0, itemCount(items), false);
  }

  /** Tokenizes all `items` off the JS thread. */
  tokenizeAsync(items: Items, maxLength: number): Promise<EncodedPairs> {
    this.assertUsable();
    return this.#tokenizeRange(items, maxLength, 0, itemCount(items), true);
  }

  /** Runs a whole call off the JS thread; resolves to one output row per item, in input order. */
  run(call: SessionCall): Promise<Float32Array> {
    const items = startCall(call);
    return runBatched({
      ...this.#batchedCall(call, items),
      tokenizeChunk: (start, end) => this.#tokenizeRange(items, call.maxLength, start, end, true),
      runBatch: (batch) => this.forward(batch, call.output, call.signal),
    });
  }

  /** `run` on the calling thread. */
  runSync(call: SessionCall): Float32Array {
    const items = startCall(call);
    return runBatchedSync({
      ...this.#batchedCall(call, items),
      tokenizeChunk: (start, end) => this.#tokenizeRange(items, call.maxLength, start, end, false),
      runBatch: (batch) => this.forwardSync(batch, call.output),
    });
  }

  /**
   * One packed batch through the engine, queued behind the engine calls
   * before it (one model runs one batch at a time, on all its threads);
   * skipped if the model is disposed or `signal` aborts while it waits.
   */
  forward(batch: Pick<Batch, 'ids' | 'typeIds' | 'lengths'>, output: Output, signal?: AbortSignal): Promise<Float32Array> {
    this.assertUsable();
    const started = this.#queueTail.then(() => {
      this.assertUsable();
      signal?.throwIfAborted();
      const { ids, typeIds, lengths } = batch;
      return output.kind === 'logits'
        ? this.#model.run(ids, typeIds, lengths)
        : this.#model.hidden(ids, typeIds, lengths, output.layer, output.pooling);
    });
    // Waiting calls stay here, off the libuv thread pool, whatever this one's outcome.
    this.#queueTail = started.catch(() => undefined);
    return started.catch((error: unknown) => {
      throw fromNative(error);
    });
  }

  /** `forward` on the calling thread. */
  forwardSync(batch: Pick<Batch, 'ids' | 'typeIds' | 'lengths'>, output: Output): Float32Array {
    this.assertUsable();
    const { ids, typeIds, lengths } = batch;
    try {
      return output.kind === 'logits'
        ? this.#model.runSync(ids, typeIds, lengths)
        : this.#model.hiddenSync(ids, typeIds, lengths, output.layer, output.pooling);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Floats of output per item. */
  rowWidth(output: Output): number {
    return output.kind === 'logits' ? this.native.numLabels : this.native.hiddenSize;
  }

  #batchedCall(call: SessionCall, items: Items): BatchedCall {
    return {
      count: itemCount(items),
      maxLength: call.maxLength,
      caps: call.caps,
      maxBatchTokens: call.maxBatchTokens,
      rowWidth: this.rowWidth(call.output),
      vocabulary: { path: this.dir, vocabSize: this.native.vocabSize, typeVocabSize: this.native.typeVocabSize },
      signal: call.signal,
      onProgress: call.onProgress,
      assertUsable: this.assertUsable,
    };
  }

  /** Items [start, end) through the tokenizer, off the JS thread when `async`. */
  #tokenizeRange(items: Items, maxLength: number, start: number, end: number, async: true): Promise<EncodedPairs>;
  #tokenizeRange(items: Items, maxLength: number, start: number, end: number, async: false): EncodedPairs;
  #tokenizeRange(
    items: Items,
    maxLength: number,
    start: number,
    end: number,
    async: boolean,
  ): EncodedPairs | Promise<EncodedPairs> {
    const tokenizer = this.#tokenizer;
    if (items.kind === 'pairs') {
      const { truncation } = items;
      const [firsts, seconds] = [items.firsts.slice(start, end), items.seconds.slice(start, end)];
      return async
        ? tokenizer.tokenizePairsAsync(firsts, seconds, maxLength, truncation)
        : tokenizer.tokenizePairs(firsts, seconds, maxLength, truncation);
    }
    const texts = items.texts.slice(start, end);
    return async ? tokenizer.tokenizeTextsAsync(texts, maxLength) : tokenizer.tokenizeTexts(texts, maxLength);
  }
}

/** A call's items, its item cap checked first so that an oversized call costs nothing. */
function startCall(call: SessionCall): Items {
  if (Array.isArray(call.input)) checkItemLimit(call.input.length, call.caps);
  const items = call.items();
  call.signal?.throwIfAborted();
  return items;
}

function itemCount(items: Items): number {
  return items.kind === 'pairs' ? items.firsts.length : items.texts.length;
}
