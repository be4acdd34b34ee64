/** The public cross-encoder API: load a model folder, score pairs, rank documents. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ACTIVATIONS, type Activation, applyActivation, defaultActivation } from './activation.js';
import { type AsyncBatchedCall, EngineQueue, fromEngine, runBatched, runBatchedSync } from './batched-run.js';
import {
  type CallLimits,
  checkItemLimit,
  DEFAULT_MAX_PAIRS_PER_CALL,
  DEFAULT_MAX_TOKENS_PER_CALL,
  pairCaps,
} from './call-limits.js';
import { defaultModelPath } from './default-model.js';
import { DisposedError, ModelLoadError } from './errors.js';
import { loadNativeModel, loadTokenizer, modelFolder } from './model-folder.js';
import {
  type Dtype,
  type EncodedPairs,
  type NativeModel,
  type NativeModelConfig,
  type NativeTokenizer,
  type Pooling,
  type Truncation,
} from './native.js';
import { checkOptionsObject, describe, oneOf, optionalInteger, optionalSignal } from './validation.js';

export type { Activation } from './activation.js';
export { DEFAULT_MAX_PAIRS_PER_CALL, DEFAULT_MAX_TOKENS_PER_CALL } from './call-limits.js';
export type { Dtype, EncodedPairs, Pooling, Truncation } from './native.js';

export const POOLINGS: readonly Pooling[] = ['cls', 'mean'];

export const TRUNCATIONS: readonly Truncation[] = ['longest_first', 'only_second'];
export const DTYPES: readonly Dtype[] = ['fp32', 'int8', 'bf16'];

/** Tokens per engine call unless `maxBatchTokens` says otherwise. */
export const DEFAULT_MAX_BATCH_TOKENS = 4096;

export interface LoadOptions {
  /** Threads of the model's own pool (default: the cores this process may use). */
  threads?: number;
  /** Longest tokenised pair, special tokens included (default: the model's, at most max_position_embeddings). */
  maxLength?: number;
  /** Default cap on the pairs of one predict call (a call may pass its own). */
  maxPairsPerCall?: number;
  /** Default cap on the tokens of one predict call, after truncation (a call may pass its own). */
  maxTokensPerCall?: number;
  /**
   * 'int8' runs the encoder's linear layers on int8 weights (quantised at load unless the folder
   * was written by `crossrank quantize`); 'fp32' refuses such a folder. 'bf16' runs them on bf16
   * weights with fp32 sums (rounded at load, or stored by `crossrank quantize --dtype bf16`) and is
   * refused with a ModelLoadError on CPUs without a bf16 kernel (AVX512-BF16). Default: as stored.
   */
  dtype?: Dtype;
}

export interface PredictOptions {
  /** Upper bound on the tokens of one engine call (pairs are length-sorted, then cut by this budget). */
  maxBatchTokens?: number;
  /** Applied to the logits; default as sentence-transformers: the model config's, else sigmoid for one label. */
  activation?: Activation;
  /** `longest_first` (default, as Hugging Face) trims the longer text first; `only_second` keeps the query whole. */
  truncation?: Truncation;
  /** Called after each batch with the number of pairs scored so far and the total. */
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

export interface EncodeOptions {
  /**
   * Which hidden states: 0 is the embeddings' output, 1..numHiddenLayers the
   * output of that encoder layer (transformers' `hidden_states[layer]`).
   */
  layer: number;
  /** 'cls': each pair's [CLS] row (not the pooler's output); 'mean': the mean over all the pair's tokens. */
  pooling: Pooling;
  /** As in predict. */
  maxBatchTokens?: number;
  /** As in predict. */
  truncation?: Truncation;
  /** Called after each batch with the number of pairs encoded so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** This call's cap on pairs (default: the model's, set at load). */
  maxPairsPerCall?: number;
  /** This call's cap on tokens after truncation (default: the model's, set at load). */
  maxTokensPerCall?: number;
  /** As in predict: checked before the call and between batches. */
  signal?: AbortSignal;
}

export interface RankOptions extends PredictOptions {
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
}

export interface ModelConfig extends NativeModelConfig {
  /** Absolute path of the model folder. */
  path: string;
  /** Label names by index, from config.json's id2label. */
  id2label: Record<number, string>;
  /** Longest tokenised pair this model instance accepts. */
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
  /** The parsed model configuration. */
  readonly config: Readonly<ModelConfig>;
  #model: NativeModel;
  #tokenizer: NativeTokenizer;
  #disposed = false;
  readonly #engineQueue = new EngineQueue();

  private constructor(model: NativeModel, tokenizer: NativeTokenizer, config: ModelConfig) {
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.config = Object.freeze(config);
  }

  /**
   * Loads a Hugging Face BertForSequenceClassification folder (config.json,
   * model.safetensors, tokenizer.json or vocab.txt); with no path, the
   * reranker shipped with the package (see DEFAULT_MODEL_NAME). Synchronous:
   * the weights are mapped and prepared once here.
   */
  static load(options?: LoadOptions): CrossEncoder;
  static load(path: string | undefined, options?: LoadOptions): CrossEncoder;
  static load(pathOrOptions?: string | LoadOptions, maybeOptions: LoadOptions = {}): CrossEncoder {
    // load() and load(options) load the reranker shipped with the package.
    const path = typeof pathOrOptions === 'object' && pathOrOptions !== null ? undefined : pathOrOptions;
    const options = typeof pathOrOptions === 'object' && pathOrOptions !== null ? pathOrOptions : maybeOptions;
    if (path !== undefined && (typeof path !== 'string' || path.length === 0)) {
      throw new TypeError(
        'crossrank: CrossEncoder.load(path): path must be a non-empty string (or left out for the default model)',
      );
    }
    checkOptionsObject(options, 'CrossEncoder.load options');
    const threads = optionalInteger(options.threads, 'options.threads', 1, 256);
    const maxLengthOption = optionalInteger(options.maxLength, 'options.maxLength', 4, 1 << 20);
    const limits = resolveLimits(options, {
      maxPairsPerCall: DEFAULT_MAX_PAIRS_PER_CALL,
      maxTokensPerCall: DEFAULT_MAX_TOKENS_PER_CALL,
    });
    if (options.dtype !== undefined && typeof options.dtype !== 'string') {
      throw new TypeError(`crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got ${describe(options.dtype)}`);
    }
    if (options.dtype !== undefined && !DTYPES.includes(options.dtype)) {
      throw new RangeError(
        `crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got ${JSON.stringify(options.dtype)}`,
      );
    }

    const dir = modelFolder(path ?? defaultModelPath());
    const model = loadNativeModel(dir, { threads, dtype: options.dtype });
    try {
      const tokenizer = loadTokenizer(dir);
      const config = { ...describeModel(dir, model.config, tokenizer, maxLengthOption), ...limits };
      return new CrossEncoder(model, tokenizer, config);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Threads of this model's native pool. */
  get threads(): number {
    return this.#model.threads;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Tokenises pairs as predict does, without running the model: ids and type
   * ids of all pairs back to back, and each pair's length.
   */
  tokenize(pairs: readonly Pair[], options: Pick<PredictOptions, 'truncation'> = {}): EncodedPairs {
    this.#assertUsable();
    const { firsts, seconds } = splitPairs(pairs);
    const { truncation } = this.#resolvePredictOptions(options);
    return this.#tokenizer.encodePairs(firsts, seconds, this.config.maxLength, truncation);
  }

  /**
   * Scores pairs; resolves to a Float32Array of `pairs.length * numLabels`
   * scores in input order. Runs off the JS thread. Pairs are tokenised a chunk
   * at a time, so memory does not grow with the number of pairs.
   */
  async predict(pairs: readonly Pair[], options: PredictOptions = {}): Promise<Float32Array> {
    this.#assertUsable();
    const { firsts, seconds, resolved } = this.#startCall(pairs, options);
    const { maxLength } = this.config;
    const { truncation, signal } = resolved;
    const scores = await runBatched({
      ...this.#batchedCall(firsts.length, resolved, this.config.numLabels, 'predict()'),
      encodeChunk: (start, end) =>
        this.#tokenizer.encodePairsAsync(firsts.slice(start, end), seconds.slice(start, end), maxLength, truncation),
      runBatch: (batch) =>
        this.#engineQueue.run(() => this.#model.run(batch.ids, batch.typeIds, batch.lengths), this.#assertUsable, signal),
    });
    applyActivation(scores, this.config.numLabels, resolved.activation);
    return scores;
  }

  /** `predict` on the calling thread, for scripts. Blocks the event loop while it runs. */
  predictSync(pairs: readonly Pair[], options: PredictOptions = {}): Float32Array {
    this.#assertUsable();
    const { firsts, seconds, resolved } = this.#startCall(pairs, options);
    const { maxLength } = this.config;
    const { truncation } = resolved;
    const scores = runBatchedSync({
      ...this.#batchedCall(firsts.length, resolved, this.config.numLabels, 'predict()'),
      encodeChunk: (start, end) =>
        this.#tokenizer.encodePairs(firsts.slice(start, end), seconds.slice(start, end), maxLength, truncation),
      runBatch: (batch) => {
        try {
          return this.#model.runSync(batch.ids, batch.typeIds, batch.lengths);
        } catch (error) {
          throw fromEngine(error);
        }
      },
    });
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
    this.#assertUsable();
    checkOptionsObject(options, 'encode options');
    const { layer, pooling } = resolveEncodeTarget(options, this.config.numHiddenLayers);
    const { firsts, seconds, resolved } = this.#startCall(pairs, { ...options, activation: undefined }, 'encode()');
    const { maxLength } = this.config;
    const { truncation, signal } = resolved;
    return runBatched({
      ...this.#batchedCall(firsts.length, resolved, this.config.hiddenSize, 'encode()'),
      encodeChunk: (start, end) =>
        this.#tokenizer.encodePairsAsync(firsts.slice(start, end), seconds.slice(start, end), maxLength, truncation),
      runBatch: (batch) =>
        this.#engineQueue.run(
          () => this.#model.encode(batch.ids, batch.typeIds, batch.lengths, layer, pooling),
          this.#assertUsable,
          signal,
        ),
    });
  }

  /**
   * Scores `query` against every document and returns them best first, as
   * sentence-transformers' CrossEncoder.rank does. Needs a one-label model.
   */
  async rank(query: string, documents: readonly string[], options: RankOptions = {}): Promise<RankResult[]> {
    this.#assertUsable();
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
    const scores = await this.predict(
      documents.map((document) => [query, document] as const),
      options,
    );
    const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
    const kept = topK === undefined ? order : order.slice(0, topK);
    return kept.map((index) => {
      const result: RankResult = { index, score: scores[index]! };
      if (options.returnDocuments) result.document = documents[index]!;
      return result;
    });
  }

  /** Frees the native model now; later calls throw DisposedError. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#model.dispose();
  }

  // ---- Entry points for schedulers ------------------------------------------
  // lib/server's batcher coalesces pairs of many requests into shared engine
  // batches, so it tokenises and runs batches itself instead of calling predict.

  /**
   * `tokenize` off the JS thread. `maxLength` (default: the model's) may be set
   * above the model's to learn whether a pair would have been truncated.
   */
  tokenizeAsync(
    pairs: readonly Pair[],
    options: Pick<PredictOptions, 'truncation'> & { maxLength?: number } = {},
  ): Promise<EncodedPairs> {
    this.#assertUsable();
    const { firsts, seconds } = splitPairs(pairs);
    const { truncation } = this.#resolvePredictOptions({ truncation: options.truncation });
    const maxLength = optionalInteger(options.maxLength, 'options.maxLength', 4, 1 << 20) ?? this.config.maxLength;
    return this.#tokenizer.encodePairsAsync(firsts, seconds, maxLength, truncation);
  }

  /**
   * Runs one packed batch (as laid out by `tokenize`, every pair at most
   * `config.maxLength` tokens) and resolves to its raw logits, one row of
   * `numLabels` per pair in batch order. Queued behind other engine calls.
   */
  runBatch(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Promise<Float32Array> {
    this.#assertUsable();
    return this.#engineQueue.run(() => this.#model.run(ids, typeIds, lengths), this.#assertUsable);
  }

  // An arrow function: it is handed to the shared batching code.
  readonly #assertUsable = (): void => {
    if (this.#disposed) throw new DisposedError();
  };

  /** Checks options and the pair cap. */
  #startCall(pairs: readonly Pair[], options: PredictOptions, method = 'predict()') {
    const resolved = this.#resolvePredictOptions(options);
    // Before splitting, so an oversized call costs nothing.
    if (Array.isArray(pairs)) checkItemLimit(pairs.length, pairCaps(resolved, method));
    const { firsts, seconds } = splitPairs(pairs);
    resolved.signal?.throwIfAborted();
    return { firsts, seconds, resolved };
  }

  /** The parts of a batched call that every method shares. */
  #batchedCall(
    count: number,
    resolved: ResolvedPredictOptions,
    rowWidth: number,
    method: string,
  ): Omit<AsyncBatchedCall, 'encodeChunk' | 'runBatch'> {
    return {
      count,
      maxLength: this.config.maxLength,
      caps: pairCaps(resolved, method),
      maxBatchTokens: resolved.maxBatchTokens,
      rowWidth,
      vocabulary: this.config,
      signal: resolved.signal,
      onProgress: resolved.onProgress,
      assertUsable: this.#assertUsable,
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
function resolveEncodeTarget(options: EncodeOptions, numHiddenLayers: number): { layer: number; pooling: Pooling } {
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
  return { layer, pooling: oneOf(options.pooling, 'options.pooling', POOLINGS) };
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

function describeModel(
  dir: string,
  native: NativeModelConfig,
  tokenizer: NativeTokenizer,
  maxLengthOption: number | undefined,
): Omit<ModelConfig, keyof CallLimits> {
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

  const positions = native.maxPositionEmbeddings;
  let maxLength: number;
  if (maxLengthOption !== undefined) {
    if (maxLengthOption > positions) {
      throw new RangeError(
        `crossrank: options.maxLength ${maxLengthOption} exceeds this model's max_position_embeddings (${positions})`,
      );
    }
    maxLength = maxLengthOption;
  } else {
    maxLength = Math.min(tokenizer.modelMaxLength ?? positions, positions);
  }

  return {
    ...native,
    architectures: [...native.architectures],
    path: dir,
    id2label,
    maxLength,
    defaultActivation: chosen.activation,
    tokenizerSource: tokenizer.source,
  };
}

function splitPairs(pairs: readonly Pair[]): { firsts: string[]; seconds: string[] } {
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
  return { firsts, seconds };
}
