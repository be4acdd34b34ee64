/** The public cross-encoder API: load a model folder, score pairs, rank documents. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ACTIVATIONS, type Activation, applyActivation, defaultActivation } from './activation.js';
import { type CallLimits, checkItemLimit, DEFAULT_MAX_BATCH_TOKENS, pairCaps } from './call-limits.js';
import { DEFAULT_MODEL_ID } from './default-model.js';
import { ModelLoadError } from './errors.js';
import type { PendingLoad } from './hub/pending-load.js';
import { type LoadOptions, modelSource, type ResolvedLoadOptions, resolveLoadOptions, resolveMaxLength } from './load-options.js';
import { type Items, LOGITS, ModelSession, type Output, type SessionCall } from './model-session.js';
import {
  type Dtype,
  type EncodedPairs,
  type EncodedWindows,
  type NativeModelConfig,
  type Pooling,
  type Truncation,
} from './native.js';
import { checkOptionsObject, describe, oneOf, optionalInteger, optionalSignal } from './validation.js';
import { bestWindows, type DocumentWindow, encodedItems, resolveWindowOptions, type WindowOptions } from './windows.js';

export type { Activation } from './activation.js';
export { DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_PAIRS_PER_CALL, DEFAULT_MAX_TOKENS_PER_CALL } from './call-limits.js';
export type { Dtype, EncodedPairs, EncodedWindows, Pooling, Truncation } from './native.js';
export type { DocumentWindow, WindowOptions } from './windows.js';
export { DTYPES, type LoadOptions } from './load-options.js';

export const POOLINGS: readonly Pooling[] = ['cls', 'mean'];

export const TRUNCATIONS: readonly Truncation[] = ['longest_first', 'only_second'];

export interface PredictOptions {
  /** Upper bound on the tokens of one engine call (pairs are length-sorted, then cut by this budget). */
  maxBatchTokens?: number;
  /** Applied to the logits; default as sentence-transformers: the model config's, else sigmoid for one label. */
  activation?: Activation;
  /** `longest_first` (default, as Hugging Face) trims the longer text first; `only_second` keeps the query whole. */
  truncation?: Truncation;
  /** Called after each batch with the number of pairs done so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** This call's cap on pairs (default: the model's, set at load). */
  maxPairsPerCall?: number;
  /** This call's cap on tokens after truncation (default: the model's, set at load). */
  maxTokensPerCall?: number;
  /**
   * Stops the call between batches: it rejects with the signal's reason (a
   * DOMException named 'AbortError' unless abort() was given one) and the
   * model stays usable.
   */
  signal?: AbortSignal;
}

/** encode()'s options: which hidden states, and predict's options but the activation. */
export interface EncodeOptions extends Omit<PredictOptions, 'activation'> {
  /**
   * Which hidden states: 0 is the embeddings' output, 1..numHiddenLayers the
   * output of that encoder layer (transformers' `hidden_states[layer]`).
   */
  layer: number;
  /** 'cls': each pair's [CLS] row (not the pooler's output); 'mean': the mean over all the pair's tokens. */
  pooling: Pooling;
}

export interface RankOptions extends PredictOptions, WindowOptions {
  /** Keep only the best `topK` results. */
  topK?: number;
  /** Include each document's text in its result. */
  returnDocuments?: boolean;
}

export interface RankResult {
  /** Position of the document in the input array. */
  index: number;
  score: number;
  document?: string;
  /** With `maxTokensPerDoc`: the window of the document that gave its score. */
  window?: DocumentWindow;
}

export interface ModelConfig extends NativeModelConfig {
  /** Absolute path of the model folder (for a hub id, its snapshot in the cache). */
  path: string;
  /** The hub id it was loaded by, else the folder's name. */
  name: string;
  /** For a hub id, the commit of the cached snapshot. */
  commit: string | undefined;
  /** Label names by index, from config.json's id2label. */
  id2label: Record<number, string>;
  /** Longest tokenized pair this model instance accepts. */
  maxLength: number;
  /** Activation `predict` applies when none is given. */
  defaultActivation: Activation;
  /** Which tokenizer file was loaded: tokenizer.json, or vocab.txt for older BERT folders. */
  tokenizerSource: string;
  /** Cap on the pairs of one predict call unless the call passes its own. */
  maxPairsPerCall: number;
  /** Cap on the tokens of one predict call unless the call passes its own. */
  maxTokensPerCall: number;
}

export type Pair = readonly [string, string];

export class CrossEncoder {
  readonly #loaded: PendingLoad<{ session: ModelSession; described: Readonly<ModelConfig> }>;
  /** dispose() was called, perhaps before the model arrived. */
  #disposed = false;

  private constructor(source: string, options: ResolvedLoadOptions) {
    this.#loaded = ModelSession.open(
      source,
      'cross-encoder',
      options,
      (opened) =>
        Object.freeze({
          ...describeModel(opened, options.maxLength),
          maxPairsPerCall: options.maxItemsPerCall,
          maxTokensPerCall: options.maxTokensPerCall,
        }),
      // Disposed while it downloaded: free it now; calls throw DisposedError as usual.
      (session) => this.#disposed && session.dispose(),
    );
  }

  /**
   * Loads a Hugging Face BertForSequenceClassification (config.json,
   * model.safetensors, tokenizer.json or vocab.txt) from a folder, or by hub
   * id (`org/name`) through the huggingface_hub cache; with neither, the
   * default model (DEFAULT_MODEL_ID). A folder that exists wins over an id
   * spelt the same. Synchronous for a folder or a cached id. An id that must
   * first be downloaded returns at once a model whose async methods wait for
   * the download; await `model.ready` to wait for it and see its errors early.
   */
  static load(options?: LoadOptions): CrossEncoder;
  static load(nameOrPath: string | undefined, options?: LoadOptions): CrossEncoder;
  static load(pathOrOptions?: string | LoadOptions, maybeOptions: LoadOptions = {}): CrossEncoder {
    // load() and load(options) load the default model.
    const optionsFirst = typeof pathOrOptions === 'object' && pathOrOptions !== null;
    const source = modelSource(optionsFirst ? undefined : pathOrOptions, 'CrossEncoder.load', true);
    const options = resolveLoadOptions(optionsFirst ? pathOrOptions : maybeOptions, 'CrossEncoder.load', 'maxPairsPerCall');
    return new CrossEncoder(source ?? DEFAULT_MODEL_ID, options);
  }

  /** The parsed model configuration (throws ModelNotReadyError while a download is under way). */
  get config(): Readonly<ModelConfig> {
    return this.#loaded.value.described;
  }

  get #session(): ModelSession {
    return this.#loaded.value.session;
  }

  /**
   * Resolves to this model once it can be used: at once for a folder or a
   * cached id, after the download for an id that was not cached. Rejects
   * with the download's or the load's error (which later calls throw too).
   */
  get ready(): Promise<this> {
    return this.#loaded.ready().then(() => this);
  }

  /** Whether a download is under way: async methods then wait for it. */
  #waiting(): boolean {
    return this.#loaded.loading && !this.#disposed;
  }

  /** Threads of this model's native pool. */
  get threads(): number {
    return this.#session.threads;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Tokenizes pairs as predict does, without running the model: ids and type
   * ids of all pairs back to back, and each pair's length.
   */
  tokenize(pairs: readonly Pair[], options: Pick<PredictOptions, 'truncation'> = {}): EncodedPairs {
    this.#session.assertUsable();
    const { truncation } = this.#resolvePredictOptions(options);
    return this.#session.tokenize(pairItems(pairs, truncation), this.config.maxLength);
  }

  /**
   * Scores pairs; resolves to a Float32Array of `pairs.length * numLabels`
   * scores in input order. Runs off the JS thread. Pairs are tokenized a chunk
   * at a time, so memory does not grow with the number of pairs.
   */
  async predict(pairs: readonly Pair[], options: PredictOptions = {}): Promise<Float32Array> {
    if (this.#waiting()) return this.ready.then(() => this.predict(pairs, options));
    this.#session.assertUsable();
    const resolved = this.#resolvePredictOptions(options);
    const scores = await this.#session.run(this.#call(pairs, resolved, LOGITS, 'predict()'));
    applyActivation(scores, this.config.numLabels, resolved.activation);
    return scores;
  }

  /** `predict` on the calling thread, for scripts. Blocks the event loop while it runs. */
  predictSync(pairs: readonly Pair[], options: PredictOptions = {}): Float32Array {
    this.#session.assertUsable();
    const resolved = this.#resolvePredictOptions(options);
    const scores = this.#session.runSync(this.#call(pairs, resolved, LOGITS, 'predict()'));
    applyActivation(scores, this.config.numLabels, resolved.activation);
    return scores;
  }

  /**
   * Each pair's representation after encoder layer `layer` (0: the
   * embeddings' output, numHiddenLayers: the last layer), pooled to one row:
   * resolves to a Float32Array of `pairs.length * hiddenSize`, row-major, in
   * input order. Runs only the layers needed, off the JS thread.
   */
  async encode(pairs: readonly Pair[], options: EncodeOptions): Promise<Float32Array> {
    if (this.#waiting()) return this.ready.then(() => this.encode(pairs, options));
    this.#session.assertUsable();
    checkOptionsObject(options, 'encode options');
    const hidden = resolveHiddenOutput(options, this.config.numHiddenLayers);
    const resolved = this.#resolvePredictOptions({ ...options, activation: undefined });
    return this.#session.run(this.#call(pairs, resolved, hidden, 'encode()'));
  }

  /**
   * Scores `query` against every document and returns them best first, as
   * sentence-transformers' CrossEncoder.rank does. Needs a one-label model.
   */
  async rank(query: string, documents: readonly string[], options: RankOptions = {}): Promise<RankResult[]> {
    if (this.#waiting()) return this.ready.then(() => this.rank(query, documents, options));
    this.#session.assertUsable();
    if (typeof query !== 'string') throw new TypeError(`crossrank: rank(query, documents): query must be a string, got ${describe(query)}`);
    if (!Array.isArray(documents)) {
      throw new TypeError(`crossrank: rank(query, documents): documents must be an array of strings, got ${describe(documents)}`);
    }
    documents.forEach((document, i) => {
      if (typeof document !== 'string') {
        throw new TypeError(`crossrank: rank(query, documents): documents[${i}] must be a string, got ${describe(document)}`);
      }
    });
    checkOptionsObject(options, 'rank options');
    const topK = optionalInteger(options.topK, 'options.topK', 1, Number.MAX_SAFE_INTEGER);
    if (this.config.numLabels !== 1) {
      throw new RangeError(
        `crossrank: rank() needs a model with one output label; this one has ${this.config.numLabels} (use predict() instead)`,
      );
    }
    const windowing = resolveWindowOptions(options);
    let scores: Float32Array;
    let windows: DocumentWindow[] | undefined;
    if (windowing === undefined) {
      scores = await this.predict(
        documents.map((document) => [query, document] as const),
        options,
      );
    } else {
      const resolved = this.#resolvePredictOptions(options);
      const { maxLength } = this.config;
      const caps = pairCaps(resolved, 'rank()');
      // The pair cap counts documents, as without windows; the token cap counts every window's tokens.
      checkItemLimit(documents.length, caps);
      const encoded = await this.#session.encodeWindowsAsync(
        query,
        documents,
        maxLength,
        windowing.maxTokensPerDoc,
        windowing.overlap,
      );
      const logits = await this.#session.run({
        input: documents,
        items: () => encodedItems(encoded),
        output: LOGITS,
        maxLength,
        caps,
        maxBatchTokens: resolved.maxBatchTokens,
        signal: resolved.signal,
        onProgress: resolved.onProgress,
      });
      ({ scores, windows } = bestWindows(encoded, logits, documents.length));
      // After the maximum: on one label every activation is non-decreasing, so the best window is the same.
      applyActivation(scores, 1, resolved.activation);
    }
    const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
    const kept = topK === undefined ? order : order.slice(0, topK);
    return kept.map((index) => {
      const result: RankResult = { index, score: scores[index]! };
      if (options.returnDocuments) result.document = documents[index]!;
      if (windows) result.window = windows[index]!;
      return result;
    });
  }

  /** Frees the native model now (or as it arrives, if downloading); later calls throw DisposedError. Safe to call twice. */
  dispose(): void {
    this.#disposed = true;
    if (this.#loaded.loaded) this.#session.dispose();
  }

  // ---- Entry points for schedulers ------------------------------------------
  // lib/server's batcher coalesces pairs of many requests into shared engine
  // batches, so it tokenizes and runs batches itself instead of calling predict.

  /**
   * `tokenize` off the JS thread. `maxLength` (default: the model's) may be set
   * above the model's to learn whether a pair would have been truncated.
   */
  tokenizeAsync(
    pairs: readonly Pair[],
    options: Pick<PredictOptions, 'truncation'> & { maxLength?: number } = {},
  ): Promise<EncodedPairs> {
    if (this.#waiting()) return this.ready.then(() => this.tokenizeAsync(pairs, options));
    this.#session.assertUsable();
    const { truncation } = this.#resolvePredictOptions({ truncation: options.truncation });
    const items = pairItems(pairs, truncation);
    const maxLength = optionalInteger(options.maxLength, 'options.maxLength', 4, 1 << 20) ?? this.config.maxLength;
    return this.#session.tokenizeAsync(items, maxLength);
  }

  /**
   * The windows `rank` scores with `maxTokensPerDoc`, off the JS thread: every
   * window of every document beside the query, packed as `tokenize` packs
   * pairs, with each window's document and span. Run them with `runBatch` and
   * pick each document's best with `bestWindows`.
   */
  tokenizeWindowsAsync(
    query: string,
    documents: readonly string[],
    options: WindowOptions & { maxTokensPerDoc: number },
  ): Promise<EncodedWindows> {
    this.#session.assertUsable();
    checkOptionsObject(options, 'tokenizeWindowsAsync options');
    const windowing = resolveWindowOptions(options);
    if (windowing === undefined) throw new TypeError('crossrank: tokenizeWindowsAsync needs options.maxTokensPerDoc');
    return this.#session.encodeWindowsAsync(
      query,
      documents,
      this.config.maxLength,
      windowing.maxTokensPerDoc,
      windowing.overlap,
    );
  }

  /**
   * Runs one packed batch (as laid out by `tokenize`, every pair at most
   * `config.maxLength` tokens) and resolves to its raw logits, one row of
   * `numLabels` per pair in batch order. Queued behind other engine calls.
   */
  runBatch(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Promise<Float32Array> {
    if (this.#waiting()) return this.ready.then(() => this.runBatch(ids, typeIds, lengths));
    return this.#session.forward({ ids, typeIds, lengths }, LOGITS);
  }

  /** One call's work for the session. */
  #call(pairs: readonly Pair[], resolved: ResolvedPredictOptions, output: Output, method: string): SessionCall {
    const { truncation, maxBatchTokens, signal, onProgress } = resolved;
    return {
      input: pairs,
      items: () => pairItems(pairs, truncation),
      output,
      maxLength: this.config.maxLength,
      caps: pairCaps(resolved, method),
      maxBatchTokens,
      signal,
      onProgress,
    };
  }

  #resolvePredictOptions(options: PredictOptions): ResolvedPredictOptions {
    checkOptionsObject(options, 'predict options');
    const limits = resolveLimits(options, this.config);
    const maxBatchTokens =
      optionalInteger(options.maxBatchTokens, 'options.maxBatchTokens', 1, 1 << 30) ?? DEFAULT_MAX_BATCH_TOKENS;
    const activation = options.activation ?? this.config.defaultActivation;
    if (!ACTIVATIONS.includes(activation)) {
      throw new RangeError(
        `crossrank: options.activation must be one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}, got ${describe(activation)}`,
      );
    }
    const truncation = options.truncation ?? 'longest_first';
    if (!TRUNCATIONS.includes(truncation)) {
      throw new RangeError(
        `crossrank: options.truncation must be one of ${TRUNCATIONS.map((t) => `'${t}'`).join(', ')}, got ${describe(truncation)}`,
      );
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new TypeError(`crossrank: options.onProgress must be a function, got ${describe(options.onProgress)}`);
    }
    const signal = optionalSignal(options.signal);
    return { maxBatchTokens, activation, truncation, ...limits, onProgress: options.onProgress, signal };
  }
}

type ResolvedPredictOptions = Required<Omit<PredictOptions, 'onProgress' | 'signal'>> &
  Pick<PredictOptions, 'onProgress' | 'signal'>;

/** encode()'s layer and pooling, checked against the model. */
function resolveHiddenOutput(options: EncodeOptions, numHiddenLayers: number): Output {
  const { layer } = options;
  if (typeof layer !== 'number' || !Number.isInteger(layer)) {
    throw new TypeError(`crossrank: options.layer must be an integer, got ${describe(layer)}`);
  }
  if (layer < 0 || layer > numHiddenLayers) {
    throw new RangeError(
      `crossrank: options.layer must be between 0 (the embeddings) and ${numHiddenLayers} (this model's last layer, ` +
        `num_hidden_layers), got ${layer}`,
    );
  }
  return { kind: 'hidden', layer, pooling: oneOf(options.pooling, 'options.pooling', POOLINGS) };
}

/** The call caps in options (load or predict), each falling back to its default. */
function resolveLimits(options: Partial<CallLimits>, defaults: CallLimits): CallLimits {
  return {
    maxPairsPerCall:
      optionalInteger(options.maxPairsPerCall, 'options.maxPairsPerCall', 1, Number.MAX_SAFE_INTEGER) ??
      defaults.maxPairsPerCall,
    maxTokensPerCall:
      optionalInteger(options.maxTokensPerCall, 'options.maxTokensPerCall', 1, Number.MAX_SAFE_INTEGER) ??
      defaults.maxTokensPerCall,
  };
}

/** What the folder says beyond the engine's config: labels, the default activation, the longest pair. */
function describeModel(session: ModelSession, maxLengthOption: number | undefined): Omit<ModelConfig, keyof CallLimits> {
  const { name, commit } = session;
  const { dir, native } = session;
  const configPath = join(dir, 'config.json');
  // The engine has already read and checked config.json; this reads the
  // fields it does not need (labels, the sentence-transformers activation).
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;

  const id2label: Record<number, string> = {};
  const rawLabels = raw['id2label'];
  if (rawLabels && typeof rawLabels === 'object') {
    for (const [key, value] of Object.entries(rawLabels)) id2label[Number(key)] = String(value);
  } else {
    for (let i = 0; i < native.numLabels; i++) id2label[i] = `LABEL_${i}`;
  }

  const chosen = defaultActivation(raw, native.numLabels);
  if ('error' in chosen) throw new ModelLoadError(`crossrank: ${configPath}: ${chosen.error}`, dir);

  return {
    ...native,
    architectures: [...native.architectures],
    path: dir,
    id2label,
    maxLength: resolveMaxLength(maxLengthOption, session.tokenizerMaxLength, native.maxSequenceLength),
    defaultActivation: chosen.activation,
    tokenizerSource: session.tokenizerSource,
    name,
    commit,
  };
}

/** Checks pairs and splits them for the tokenizer. */
function pairItems(pairs: readonly Pair[], truncation: Truncation): Items {
  if (!Array.isArray(pairs)) {
    throw new TypeError(`crossrank: pairs must be an array of [string, string], got ${describe(pairs)}`);
  }
  const firsts = new Array<string>(pairs.length);
  const seconds = new Array<string>(pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    const pair: unknown = pairs[i];
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new TypeError(`crossrank: pairs[${i}] must be a [string, string] pair, got ${describe(pair)}`);
    }
    const [first, second] = pair as unknown[];
    if (typeof first !== 'string') throw new TypeError(`crossrank: pairs[${i}][0] must be a string, got ${describe(first)}`);
    if (typeof second !== 'string') throw new TypeError(`crossrank: pairs[${i}][1] must be a string, got ${describe(second)}`);
    firsts[i] = first;
    seconds[i] = second;
  }
  return { kind: 'pairs', firsts, seconds, truncation };
}
