/**
 * One open model: the native engine model, its tokenizer, the queue its
 * engine calls wait in, and dispose. CrossEncoder and SentenceEncoder each
 * own a session and add only what is theirs (inputs, options, what they do
 * with the output rows); loading, tokenizing, running batches sync or async,
 * and turning native errors into crossrank's (errors.ts fromNative) happen
 * here, once.
 *
 * `ModelSession.open` is the one path from a model source (a folder or a hub
 * id, located by lib/hub/resolve.ts) to an open model: at once for a folder
 * or a cached id, after the download otherwise; `ModelSession.load` opens a
 * folder. Their options are in lib/load-options.ts.
 */
import { basename } from 'node:path';

import { type Batch } from './batching.js';
import { type BatchedCall, runBatched, runBatchedSync } from './batched-run.js';
import { type CallCaps, checkItemLimit } from './call-limits.js';
import { DisposedError, fromNative } from './errors.js';
import type { ModelKind } from './hub/cache.js';
import { PendingLoad } from './hub/pending-load.js';
import { type HubOptions, locateModel } from './hub/resolve.js';
import { loadNativeModel, loadTokenizer, modelFolder, type NativeLoadOptions } from './model-folder.js';
import type {
  EncodedPairs,
  EncodedWindows,
  NativeModel,
  NativeModelConfig,
  NativeTokenizer,
  Pooling,
  Truncation,
} from './native.js';

/**
 * A call's inputs: pairs (cross-encoder), single texts (bi-encoder), or items
 * tokenised already (rank's long-document windows, lib/windows.ts), with
 * each item's start in `encoded.ids` (`offsets`, one more than the items).
 */
export type Items =
  | { kind: 'pairs'; firsts: readonly string[]; seconds: readonly string[]; truncation: Truncation }
  | { kind: 'texts'; texts: readonly string[] }
  | { kind: 'encoded'; encoded: EncodedPairs; offsets: Uint32Array };

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

/** Where an open model came from: the hub id it was asked for (else the folder's name), and the cached commit. */
export interface ModelOrigin {
  name: string;
  commit: string | undefined;
}

export class ModelSession {
  /** Absolute path of the model folder (for a hub id, its snapshot in the cache). */
  readonly dir: string;
  /** The hub id it was loaded by, else the folder's name. */
  readonly name: string;
  /** For a hub id, the commit of the cached snapshot. */
  readonly commit: string | undefined;
  /** What the engine read from config.json. */
  readonly native: NativeModelConfig;
  readonly #model: NativeModel;
  readonly #tokenizer: NativeTokenizer;
  #disposed = false;
  #queueTail: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, model: NativeModel, tokenizer: NativeTokenizer, origin: ModelOrigin | undefined) {
    this.dir = dir;
    this.name = origin?.name ?? basename(dir);
    this.commit = origin?.commit;
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
    origin?: ModelOrigin,
  ): { session: ModelSession; described: T } {
    const dir = modelFolder(source);
    const model = loadNativeModel(dir, options);
    let session: ModelSession;
    try {
      session = new ModelSession(dir, model, loadTokenizer(dir), origin);
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

  /**
   * Opens `source`, a folder or a hub id: loaded now if it is a folder or a
   * cached id, else once downloaded (unless offline: then an error now).
   * `onArrival` sees a model that arrives after a download, e.g. to free it
   * if its owner was disposed meanwhile.
   */
  static open<T>(
    source: string,
    kind: ModelKind,
    options: SessionOptions & { hub: HubOptions },
    describe: (session: ModelSession) => T,
    onArrival: (session: ModelSession) => void = () => {},
  ): PendingLoad<{ session: ModelSession; described: T }> {
    const location = locateModel(source, kind, options.hub);
    if (location.pending === undefined) {
      const origin = location.modelId === undefined ? undefined : { name: location.modelId, commit: location.commit };
      return PendingLoad.loaded(ModelSession.load(location.dir, options, describe, origin));
    }
    const arrived = location.pending.then(({ dir, commit }) => {
      const opened = ModelSession.load(dir, options, describe, { name: location.modelId, commit });
      onArrival(opened.session);
      return opened;
    });
    return PendingLoad.later(location.modelId, arrived);
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

  /**
   * The query with every window of every document (rank's maxTokensPerDoc,
   * lib/windows.ts), tokenised off the JS thread.
   */
  encodeWindowsAsync(
    query: string,
    documents: readonly string[],
    maxLength: number,
    maxTokensPerDoc: number,
    overlap: number | undefined,
  ): Promise<EncodedWindows> {
    this.assertUsable();
    return this.#tokenizer.tokenizeWindowsAsync(query, [...documents], maxLength, maxTokensPerDoc, overlap);
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
    if (items.kind === 'encoded') {
      const { encoded, offsets } = items;
      const [from, to] = [offsets[start]!, offsets[end]!];
      const chunk = {
        ids: encoded.ids.subarray(from, to),
        typeIds: encoded.typeIds.subarray(from, to),
        lengths: encoded.lengths.subarray(start, end),
      };
      return async ? Promise.resolve(chunk) : chunk;
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
  if (items.kind === 'encoded') return items.encoded.lengths.length;
  return items.kind === 'pairs' ? items.firsts.length : items.texts.length;
}
