/** The public bi-encoder API: load a sentence-transformers folder, embed texts. */
import { type SyncBatchedCall, EngineQueue, fromEngine, runBatched, runBatchedSync } from './batched-run.js';
import { type CallCaps, checkItemLimit, DEFAULT_MAX_TEXTS_PER_CALL, DEFAULT_MAX_TOKENS_PER_CALL } from './call-limits.js';
import { DEFAULT_MAX_BATCH_TOKENS, DTYPES } from './cross-encoder.js';
import { DisposedError } from './errors.js';
import { loadNativeModel, loadTokenizer, modelFolder } from './model-folder.js';
import type { Dtype, EncodedPairs, NativeModel, NativeModelConfig, NativeTokenizer, Pooling } from './native.js';
import { readSentenceModules } from './sentence-config.js';
import { checkOptionsObject, describe, optionalInteger, optionalSignal } from './validation.js';

export { DEFAULT_MAX_TEXTS_PER_CALL } from './call-limits.js';

export interface SentenceEncoderLoadOptions {
  /** Threads of the model's own pool (default: the cores this process may use). */
  threads?: number;
  /**
   * Longest tokenised text, special tokens included (default: sentence_bert_config.json's
   * max_seq_length, else max_position_embeddings; at most max_position_embeddings).
   */
  maxLength?: number;
  /** Default cap on the texts of one embed call (a call may pass its own). */
  maxTextsPerCall?: number;
  /** Default cap on the tokens of one embed call, after truncation (a call may pass its own). */
  maxTokensPerCall?: number;
  /** As CrossEncoder.load's: 'int8' or 'bf16' runs the encoder's linear layers in that dtype. */
  dtype?: Dtype;
}

export interface EmbedOptions {
  /** L2-normalise each embedding (default: true iff modules.json ends with a Normalize module). */
  normalize?: boolean;
  /** Upper bound on the tokens of one engine call (texts are length-sorted, then cut by this budget). */
  maxBatchTokens?: number;
  /** Called after each batch with the number of texts embedded so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** This call's cap on texts (default: the model's, set at load). */
  maxTextsPerCall?: number;
  /** This call's cap on tokens after truncation (default: the model's, set at load). */
  maxTokensPerCall?: number;
  /** Checked before the call and between batches, as in CrossEncoder.predict. */
  signal?: AbortSignal;
}

export interface SentenceEncoderConfig extends NativeModelConfig {
  /** Absolute path of the model folder. */
  path: string;
  /** Longest tokenised text this instance accepts; longer texts are cut from the end. */
  maxLength: number;
  /** How token vectors become one embedding: 'mean' over the text's tokens or its 'cls' row. */
  pooling: Pooling;
  /** The file the pooling mode was read from (e.g. 1_Pooling/config.json). */
  poolingSource: string;
  /** What embed does when its `normalize` option is absent. */
  normalize: boolean;
  /** Texts are lower-cased before tokenising (sentence_bert_config.json's do_lower_case). */
  doLowerCase: boolean;
  /** Which tokenizer file was loaded: tokenizer.json, or vocab.txt. */
  tokenizerSource: string;
  maxTextsPerCall: number;
  maxTokensPerCall: number;
}

interface ResolvedEmbedOptions {
  normalize: boolean;
  maxBatchTokens: number;
  caps: CallCaps;
  onProgress: ((done: number, total: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

export class SentenceEncoder {
  /** The parsed model configuration. */
  readonly config: Readonly<SentenceEncoderConfig>;
  #model: NativeModel;
  #tokenizer: NativeTokenizer;
  #disposed = false;
  readonly #engineQueue = new EngineQueue();

  private constructor(model: NativeModel, tokenizer: NativeTokenizer, config: SentenceEncoderConfig) {
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.config = Object.freeze(config);
  }

  /**
   * Loads a sentence-transformers BERT folder (config.json, model.safetensors,
   * tokenizer files, modules.json with its Pooling config, sentence_bert_config.json)
   * or a plain Hugging Face BERT folder (mean pooling, no normalisation).
   * Synchronous: the weights are mapped and prepared once here.
   */
  static load(path: string, options: SentenceEncoderLoadOptions = {}): SentenceEncoder {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('crossrank: SentenceEncoder.load(path): path must be a non-empty string');
    }
    checkOptionsObject(options, 'SentenceEncoder.load options');
    const threads = optionalInteger(options.threads, 'options.threads', 1, 256);
    const maxLengthOption = optionalInteger(options.maxLength, 'options.maxLength', 4, 1 << 20);
    const maxTextsPerCall =
      optionalInteger(options.maxTextsPerCall, 'options.maxTextsPerCall', 1, Number.MAX_SAFE_INTEGER) ??
      DEFAULT_MAX_TEXTS_PER_CALL;
    const maxTokensPerCall =
      optionalInteger(options.maxTokensPerCall, 'options.maxTokensPerCall', 1, Number.MAX_SAFE_INTEGER) ??
      DEFAULT_MAX_TOKENS_PER_CALL;
    if (options.dtype !== undefined && !DTYPES.includes(options.dtype)) {
      const error = typeof options.dtype === 'string' ? RangeError : TypeError;
      throw new error(`crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got ${describe(options.dtype)}`);
    }

    const dir = modelFolder(path);
    const model = loadNativeModel(dir, { threads, dtype: options.dtype, encoderOnly: true });
    try {
      const native = model.config;
      const modules = readSentenceModules(dir, native.hiddenSize);
      const positions = native.maxPositionEmbeddings;
      if (maxLengthOption !== undefined && maxLengthOption > positions) {
        throw new RangeError(
          `crossrank: options.maxLength ${maxLengthOption} exceeds this model's max_position_embeddings (${positions})`,
        );
      }
      const tokenizer = loadTokenizer(dir);
      const config: SentenceEncoderConfig = {
        ...native,
        architectures: [...native.architectures],
        path: dir,
        maxLength: maxLengthOption ?? Math.min(modules.maxSeqLength ?? positions, positions),
        pooling: modules.pooling,
        poolingSource: modules.poolingSource,
        normalize: modules.normalize,
        doLowerCase: modules.doLowerCase,
        tokenizerSource: tokenizer.source,
        maxTextsPerCall,
        maxTokensPerCall,
      };
      return new SentenceEncoder(model, tokenizer, config);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Length of each embedding (the model's hidden size). */
  get dimension(): number {
    return this.config.hiddenSize;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  /** Threads of this model's native pool. */
  get threads(): number {
    return this.#model.threads;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Tokenises texts as embed does, without running the model. */
  tokenize(texts: readonly string[]): EncodedPairs {
    this.#assertUsable();
    return this.#tokenizer.encodeTexts(this.#prepare(texts), this.config.maxLength);
  }

  /**
   * Embeds texts; resolves to a Float32Array of `texts.length * dimension`,
   * row-major, in input order. Runs off the JS thread, a chunk of texts at a time.
   */
  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array> {
    this.#assertUsable();
    const { prepared, resolved } = this.#startCall(texts, options);
    const { maxLength, pooling, numHiddenLayers } = this.config;
    const { signal } = resolved;
    const embeddings = await runBatched({
      ...this.#batchedCall(prepared.length, resolved),
      encodeChunk: (start, end) => this.#tokenizer.encodeTextsAsync(prepared.slice(start, end), maxLength),
      runBatch: (batch) =>
        this.#engineQueue.run(
          () => this.#model.encode(batch.ids, batch.typeIds, batch.lengths, numHiddenLayers, pooling),
          this.#assertUsable,
          signal,
        ),
    });
    if (resolved.normalize) normalizeRows(embeddings, this.dimension);
    return embeddings;
  }

  /** `embed` on the calling thread, for scripts. Blocks the event loop while it runs. */
  embedSync(texts: readonly string[], options: EmbedOptions = {}): Float32Array {
    this.#assertUsable();
    const { prepared, resolved } = this.#startCall(texts, options);
    const { maxLength, pooling, numHiddenLayers } = this.config;
    const embeddings = runBatchedSync({
      ...this.#batchedCall(prepared.length, resolved),
      encodeChunk: (start, end) => this.#tokenizer.encodeTexts(prepared.slice(start, end), maxLength),
      runBatch: (batch) => {
        try {
          return this.#model.encodeSync(batch.ids, batch.typeIds, batch.lengths, numHiddenLayers, pooling);
        } catch (error) {
          throw fromEngine(error);
        }
      },
    });
    if (resolved.normalize) normalizeRows(embeddings, this.dimension);
    return embeddings;
  }

  /** Frees the native model now; later calls throw DisposedError. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#model.dispose();
  }

  // An arrow function: it is handed to the shared batching code.
  readonly #assertUsable = (): void => {
    if (this.#disposed) throw new DisposedError();
  };

  #startCall(texts: readonly string[], options: EmbedOptions) {
    const resolved = this.#resolveEmbedOptions(options);
    // Before checking each text, so an oversized call costs nothing.
    if (Array.isArray(texts)) checkItemLimit(texts.length, resolved.caps);
    const prepared = this.#prepare(texts);
    resolved.signal?.throwIfAborted();
    return { prepared, resolved };
  }

  /** The texts as the tokenizer gets them: checked, copied, lower-cased if the model says so. */
  #prepare(texts: readonly string[]): string[] {
    if (!Array.isArray(texts)) throw new TypeError(`crossrank: texts must be an array of strings, got ${describe(texts)}`);
    return texts.map((text: unknown, i) => {
      if (typeof text !== 'string') throw new TypeError(`crossrank: texts[${i}] must be a string, got ${describe(text)}`);
      return this.config.doLowerCase ? text.toLowerCase() : text;
    });
  }

  #batchedCall(count: number, resolved: ResolvedEmbedOptions): Omit<SyncBatchedCall, 'encodeChunk' | 'runBatch'> {
    return {
      count,
      maxLength: this.config.maxLength,
      caps: resolved.caps,
      maxBatchTokens: resolved.maxBatchTokens,
      rowWidth: this.dimension,
      vocabulary: this.config,
      signal: resolved.signal,
      onProgress: resolved.onProgress,
      assertUsable: this.#assertUsable,
    };
  }

  #resolveEmbedOptions(options: EmbedOptions): ResolvedEmbedOptions {
    checkOptionsObject(options, 'embed options');
    if (options.normalize !== undefined && typeof options.normalize !== 'boolean') {
      throw new TypeError(`crossrank: options.normalize must be a boolean, got ${describe(options.normalize)}`);
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new TypeError(`crossrank: options.onProgress must be a function, got ${describe(options.onProgress)}`);
    }
    const maxTexts =
      optionalInteger(options.maxTextsPerCall, 'options.maxTextsPerCall', 1, Number.MAX_SAFE_INTEGER) ??
      this.config.maxTextsPerCall;
    const maxTokens =
      optionalInteger(options.maxTokensPerCall, 'options.maxTokensPerCall', 1, Number.MAX_SAFE_INTEGER) ??
      this.config.maxTokensPerCall;
    return {
      normalize: options.normalize ?? this.config.normalize,
      maxBatchTokens:
        optionalInteger(options.maxBatchTokens, 'options.maxBatchTokens', 1, 1 << 30) ?? DEFAULT_MAX_BATCH_TOKENS,
      caps: {
        maxItems: maxTexts,
        maxTokens,
        items: 'texts',
        itemsOption: 'maxTextsPerCall',
        where: 'embed() or SentenceEncoder.load()',
      },
      onProgress: options.onProgress,
      signal: optionalSignal(options.signal),
    };
  }
}

/**
 * Divides each row by its L2 norm (at least 1e-12), as sentence-transformers'
 * Normalize module (torch.nn.functional.normalize) does; the norm is summed
 * in double precision.
 */
function normalizeRows(rows: Float32Array, width: number): void {
  for (let start = 0; start < rows.length; start += width) {
    let squares = 0;
    for (let j = start; j < start + width; j++) squares += rows[j]! * rows[j]!;
    const norm = Math.max(Math.sqrt(squares), 1e-12);
    for (let j = start; j < start + width; j++) rows[j] = rows[j]! / norm;
  }
}
