/** The public cross-encoder API: load a model folder, score pairs, rank documents. */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { ACTIVATIONS, type Activation, applyActivation, defaultActivation } from './activation.js';
import { lengthSortedBatches, scatterRows } from './batching.js';
import {
  type CallLimits,
  checkPairLimit,
  DEFAULT_MAX_PAIRS_PER_CALL,
  DEFAULT_MAX_TOKENS_PER_CALL,
  pairChunks,
  tokenLimitError,
  tokenLimitReachable,
} from './call-limits.js';
import { CrossrankError, DisposedError, ModelLoadError } from './errors.js';
import {
  type Dtype,
  type EncodedPairs,
  engineAddon,
  type NativeModel,
  type NativeModelConfig,
  type NativeTokenizer,
  type Truncation,
  tokenizerAddon,
} from './native.js';

export type { Activation } from './activation.js';
export { DEFAULT_MAX_PAIRS_PER_CALL, DEFAULT_MAX_TOKENS_PER_CALL } from './call-limits.js';
export type { Dtype, EncodedPairs, Truncation } from './native.js';

export const TRUNCATIONS: readonly Truncation[] = ['longest_first', 'only_second'];
export const DTYPES: readonly Dtype[] = ['fp32', 'int8'];

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
   * was written by `crossrank quantize`); 'fp32' refuses such a folder. Default: as stored.
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
  // Engine calls on one model run one after another; queueing them here keeps
  // waiting calls off the libuv thread pool.
  #engineQueue: Promise<unknown> = Promise.resolve();

  private constructor(model: NativeModel, tokenizer: NativeTokenizer, config: ModelConfig) {
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.config = Object.freeze(config);
  }

  /**
   * Loads a Hugging Face BertForSequenceClassification folder (config.json,
   * model.safetensors, tokenizer.json or vocab.txt). Synchronous: the weights
   * are mapped and prepared once here.
   */
  static load(path: string, options: LoadOptions = {}): CrossEncoder {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('crossrank: CrossEncoder.load(path): path must be a non-empty string');
    }
    checkOptionsObject(options, 'CrossEncoder.load options');
    const threads = optionalInteger(options.threads, 'options.threads', 1, 256);
    const maxLengthOption = optionalInteger(options.maxLength, 'options.maxLength', 4, 1 << 20);
    const limits = resolveLimits(options, {
      maxPairsPerCall: DEFAULT_MAX_PAIRS_PER_CALL,
      maxTokensPerCall: DEFAULT_MAX_TOKENS_PER_CALL,
    });
    if (options.dtype !== undefined && typeof options.dtype !== 'string') {
      throw new TypeError(`crossrank: options.dtype must be 'fp32' or 'int8', got ${describe(options.dtype)}`);
    }
    if (options.dtype !== undefined && !DTYPES.includes(options.dtype)) {
      throw new RangeError(`crossrank: options.dtype must be 'fp32' or 'int8', got ${JSON.stringify(options.dtype)}`);
    }

    const dir = resolve(path);
    let isDirectory = false;
    try {
      isDirectory = statSync(dir).isDirectory();
    } catch {
      throw new ModelLoadError(`crossrank: model folder ${dir} does not exist`, dir);
    }
    if (!isDirectory) throw new ModelLoadError(`crossrank: ${dir} is not a folder (expected a model folder)`, dir);

    const { Model } = engineAddon();
    let model: NativeModel;
    try {
      model = new Model(dir, {
        ...(threads === undefined ? {} : { threads }),
        ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
      });
    } catch (error) {
      throw asLoadError(error, dir);
    }
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
    const { firsts, seconds, resolved, scores } = this.#startCall(pairs, options);
    const { numLabels, maxLength } = this.config;
    const { truncation, signal } = resolved;
    const encodeChunk = ([start, end]: readonly [number, number]) =>
      this.#tokenizer.encodePairsAsync(firsts.slice(start, end), seconds.slice(start, end), maxLength, truncation);

    if (tokenLimitReachable(firsts.length, maxLength, resolved)) {
      const budget = new TokenBudget(resolved);
      for (const chunk of pairChunks(firsts.length)) {
        const encoded = await encodeChunk(chunk);
        signal?.throwIfAborted();
        budget.add(encoded.ids.length, chunk[1]);
      }
    }
    let done = 0;
    for (const chunk of pairChunks(firsts.length)) {
      const encoded = await encodeChunk(chunk);
      checkTokenIds(encoded, chunk[0], this.config);
      const chunkScores = scores.subarray(chunk[0] * numLabels, chunk[1] * numLabels);
      for (const batch of lengthSortedBatches(encoded, resolved.maxBatchTokens)) {
        this.#assertUsable();
        signal?.throwIfAborted();
        const logits = await this.#runQueued(batch.ids, batch.typeIds, batch.lengths, signal);
        scatterRows(logits, batch.indices, numLabels, chunkScores);
        done += batch.indices.length;
        resolved.onProgress?.(done, firsts.length);
      }
    }
    applyActivation(scores, numLabels, resolved.activation);
    return scores;
  }

  /** `predict` on the calling thread, for scripts. Blocks the event loop while it runs. */
  predictSync(pairs: readonly Pair[], options: PredictOptions = {}): Float32Array {
    this.#assertUsable();
    const { firsts, seconds, resolved, scores } = this.#startCall(pairs, options);
    const { numLabels, maxLength } = this.config;
    const { truncation, signal } = resolved;
    const encodeChunk = ([start, end]: readonly [number, number]) =>
      this.#tokenizer.encodePairs(firsts.slice(start, end), seconds.slice(start, end), maxLength, truncation);

    if (tokenLimitReachable(firsts.length, maxLength, resolved)) {
      const budget = new TokenBudget(resolved);
      for (const chunk of pairChunks(firsts.length)) budget.add(encodeChunk(chunk).ids.length, chunk[1]);
    }
    let done = 0;
    for (const chunk of pairChunks(firsts.length)) {
      const encoded = encodeChunk(chunk);
      checkTokenIds(encoded, chunk[0], this.config);
      const chunkScores = scores.subarray(chunk[0] * numLabels, chunk[1] * numLabels);
      for (const batch of lengthSortedBatches(encoded, resolved.maxBatchTokens)) {
        // An onProgress callback may have aborted the call.
        signal?.throwIfAborted();
        let logits: Float32Array;
        try {
          logits = this.#model.runSync(batch.ids, batch.typeIds, batch.lengths);
        } catch (error) {
          throw fromEngine(error);
        }
        scatterRows(logits, batch.indices, numLabels, chunkScores);
        done += batch.indices.length;
        resolved.onProgress?.(done, firsts.length);
      }
    }
    applyActivation(scores, numLabels, resolved.activation);
    return scores;
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
    return this.#runQueued(ids, typeIds, lengths);
  }

  #assertUsable(): void {
    if (this.#disposed) throw new DisposedError();
  }

  /** Checks options and the pair cap; the scores array the call fills. */
  #startCall(pairs: readonly Pair[], options: PredictOptions) {
    const resolved = this.#resolvePredictOptions(options);
    // Before splitting, so an oversized call costs nothing.
    if (Array.isArray(pairs)) checkPairLimit(pairs.length, resolved);
    const { firsts, seconds } = splitPairs(pairs);
    resolved.signal?.throwIfAborted();
    const scores = new Float32Array(firsts.length * this.config.numLabels);
    return { firsts, seconds, resolved, scores };
  }

  #runQueued(
    ids: Uint32Array,
    typeIds: Uint8Array,
    lengths: Uint32Array,
    signal?: AbortSignal,
  ): Promise<Float32Array> {
    const run = this.#engineQueue.then(() => {
      this.#assertUsable();
      // Aborted while other calls' batches ran: skip this one.
      signal?.throwIfAborted();
      return this.#model.run(ids, typeIds, lengths);
    });
    this.#engineQueue = run.catch(() => undefined);
    return run.catch((error: unknown) => {
      throw fromEngine(error);
    });
  }

  #resolvePredictOptions(options: PredictOptions): Required<Omit<PredictOptions, 'onProgress' | 'signal'>> &
    Pick<PredictOptions, 'onProgress' | 'signal'> {
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
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new TypeError(`crossrank: options.signal must be an AbortSignal, got ${describe(options.signal)}`);
    }
    return { maxBatchTokens, activation, truncation, ...limits, onProgress: options.onProgress, signal: options.signal };
  }
}

/** Running total of a call's tokens against its cap. */
class TokenBudget {
  #tokens = 0;
  readonly #limits: CallLimits;

  constructor(limits: CallLimits) {
    this.#limits = limits;
  }

  /** Adds the tokens of the pairs up to pairsCounted; throws once the cap is passed. */
  add(tokens: number, pairsCounted: number): void {
    this.#tokens += tokens;
    if (this.#tokens > this.#limits.maxTokensPerCall) throw tokenLimitError(this.#tokens, pairsCounted, this.#limits);
  }
}

/**
 * The engine refuses ids outside its tables too; checking here names the pair
 * and the likely cause (tokenizer files that do not match config.json).
 */
function checkTokenIds(encoded: EncodedPairs, firstPair: number, config: ModelConfig): void {
  const { ids, typeIds, lengths } = encoded;
  let pair = 0;
  let pairEnd = lengths[0] ?? 0;
  for (let t = 0; t < ids.length; t++) {
    while (t >= pairEnd) pairEnd += lengths[++pair]!;
    const bad =
      ids[t]! >= config.vocabSize
        ? `token id ${ids[t]} is outside the vocabulary (vocab_size ${config.vocabSize})`
        : typeIds[t]! >= config.typeVocabSize
          ? `token type id ${typeIds[t]} is outside [0, ${config.typeVocabSize}) (type_vocab_size)`
          : undefined;
    if (bad !== undefined) {
      throw new RangeError(
        `crossrank: pairs[${firstPair + pair}]: ${bad} of ${join(config.path, 'config.json')}; ` +
          "the model's tokenizer files do not match its config.json",
      );
    }
  }
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

function loadTokenizer(dir: string): NativeTokenizer {
  const { Tokenizer } = tokenizerAddon();
  try {
    return Tokenizer.fromDir(dir);
  } catch (error) {
    throw new ModelLoadError(`crossrank: cannot load the tokenizer of ${dir}: ${(error as Error).message}`, dir, {
      cause: error,
    });
  }
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

function checkOptionsObject(options: unknown, what: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`crossrank: ${what} must be an object, got ${describe(options)}`);
  }
}

function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`crossrank: ${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new RangeError(`crossrank: ${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function asLoadError(error: unknown, dir: string): Error {
  if (error instanceof CrossrankError || error instanceof TypeError || error instanceof RangeError) return error;
  const message = (error as Error).message ?? String(error);
  return new ModelLoadError(message.startsWith('crossrank') ? message : `crossrank: ${message}`, dir, { cause: error });
}

function fromEngine(error: unknown): unknown {
  if ((error as { code?: string } | null)?.code === 'CROSSRANK_DISPOSED') return new DisposedError();
  return error;
}
