/** The public bi-encoder API: load a sentence-transformers folder, embed texts. */
import { type CallCaps, DEFAULT_MAX_BATCH_TOKENS } from './call-limits.js';
import type { PendingLoad } from './hub/pending-load.js';
import { modelSource, type ResolvedLoadOptions, resolveLoadOptions, resolveMaxLength, type SentenceEncoderLoadOptions } from './load-options.js';
import { type Items, ModelSession, type Output, type SessionCall } from './model-session.js';
import type { EncodedPairs, NativeModelConfig, Pooling } from './native.js';
import { readSentenceModules } from './sentence-config.js';
import { checkOptionsObject, describe, optionalInteger, optionalSignal } from './validation.js';

export { DEFAULT_MAX_TEXTS_PER_CALL } from './call-limits.js';
export type { SentenceEncoderLoadOptions } from './load-options.js';

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
  /** Absolute path of the model folder (for a hub id, its snapshot in the cache). */
  path: string;
  /** The hub id it was loaded by, else the folder's name. */
  name: string;
  /** For a hub id, the commit of the cached snapshot. */
  commit: string | undefined;
  /** Longest tokenized text this instance accepts; longer texts are cut from the end. */
  maxLength: number;
  /** How token vectors become one embedding: 'mean' over the text's tokens or its 'cls' row. */
  pooling: Pooling;
  /** The file the pooling mode was read from (e.g. 1_Pooling/config.json). */
  poolingSource: string;
  /** What embed does when its `normalize` option is absent. */
  normalize: boolean;
  /** Texts are lower-cased before tokenizing (sentence_bert_config.json's do_lower_case). */
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
  readonly #loaded: PendingLoad<{ session: ModelSession; described: Readonly<SentenceEncoderConfig> }>;
  /** dispose() was called, perhaps before the model arrived. */
  #disposed = false;

  private constructor(source: string, resolved: ResolvedLoadOptions) {
    this.#loaded = ModelSession.open(
      source,
      'sentence-encoder',
      { ...resolved, encoderOnly: true },
      (opened) => Object.freeze(describeSentenceModel(opened, resolved)),
      (session) => this.#disposed && session.dispose(),
    );
  }

  /**
   * Loads a sentence-transformers BERT model (config.json, model.safetensors,
   * tokenizer files, modules.json with its Pooling config, sentence_bert_config.json)
   * or a plain Hugging Face BERT one (mean pooling, no normalisation), from a
   * folder or by hub id, as CrossEncoder.load does: synchronous for a folder or
   * a cached id; else await `ready` (embed waits for it by itself).
   */
  static load(nameOrPath: string, options: SentenceEncoderLoadOptions = {}): SentenceEncoder {
    const source = modelSource(nameOrPath, 'SentenceEncoder.load', false)!;
    const resolved = resolveLoadOptions(options, 'SentenceEncoder.load', 'maxTextsPerCall');
    return new SentenceEncoder(source, resolved);
  }

  /** The parsed model configuration (throws ModelNotReadyError while a download is under way). */
  get config(): Readonly<SentenceEncoderConfig> {
    return this.#loaded.value.described;
  }

  get #session(): ModelSession {
    return this.#loaded.value.session;
  }

  /** Pooled hidden states after the last layer: what sentence-transformers' Transformer and Pooling modules give. */
  get #output(): Output {
    return { kind: 'hidden', layer: this.config.numHiddenLayers, pooling: this.config.pooling };
  }

  /** As CrossEncoder's: resolves to this model once it can be used, or rejects with the download's error. */
  get ready(): Promise<this> {
    return this.#loaded.ready().then(() => this);
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
    return this.#session.threads;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Tokenizes texts as embed does, without running the model. */
  tokenize(texts: readonly string[]): EncodedPairs {
    this.#session.assertUsable();
    return this.#session.tokenize(this.#textItems(texts), this.config.maxLength);
  }

  /**
   * Embeds texts; resolves to a Float32Array of `texts.length * dimension`,
   * row-major, in input order. Runs off the JS thread, a chunk of texts at a time.
   */
  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array> {
    if (this.#loaded.loading && !this.#disposed) return this.ready.then(() => this.embed(texts, options));
    this.#session.assertUsable();
    const resolved = this.#resolveEmbedOptions(options);
    const embeddings = await this.#session.run(this.#call(texts, resolved));
    if (resolved.normalize) normalizeRows(embeddings, this.dimension);
    return embeddings;
  }

  /** `embed` on the calling thread, for scripts. Blocks the event loop while it runs. */
  embedSync(texts: readonly string[], options: EmbedOptions = {}): Float32Array {
    this.#session.assertUsable();
    const resolved = this.#resolveEmbedOptions(options);
    const embeddings = this.#session.runSync(this.#call(texts, resolved));
    if (resolved.normalize) normalizeRows(embeddings, this.dimension);
    return embeddings;
  }

  /** Frees the native model now; later calls throw DisposedError. Safe to call twice. */
  dispose(): void {
    this.#disposed = true;
    if (this.#loaded.loaded) this.#session.dispose();
  }

  /** One call's work for the session. */
  #call(texts: readonly string[], resolved: ResolvedEmbedOptions): SessionCall {
    const { caps, maxBatchTokens, signal, onProgress } = resolved;
    return {
      input: texts,
      items: () => this.#textItems(texts),
      output: this.#output,
      maxLength: this.config.maxLength,
      caps,
      maxBatchTokens,
      signal,
      onProgress,
    };
  }

  /** The texts as the tokenizer gets them: checked, copied, lower-cased if the model says so. */
  #textItems(texts: readonly string[]): Items {
    if (!Array.isArray(texts)) throw new TypeError(`crossrank: texts must be an array of strings, got ${describe(texts)}`);
    const prepared = texts.map((text: unknown, i) => {
      if (typeof text !== 'string') throw new TypeError(`crossrank: texts[${i}] must be a string, got ${describe(text)}`);
      return this.config.doLowerCase ? text.toLowerCase() : text;
    });
    return { kind: 'texts', texts: prepared };
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

/** What a sentence-transformers folder says beyond the engine's config: pooling, normalisation, the longest text. */
function describeSentenceModel(session: ModelSession, resolved: ResolvedLoadOptions): SentenceEncoderConfig {
  const { dir, native, name, commit } = session;
  const modules = readSentenceModules(dir, native.hiddenSize);
  return {
    ...native,
    architectures: [...native.architectures],
    path: dir,
    name,
    commit,
    maxLength: resolveMaxLength(resolved.maxLength, modules.maxSeqLength, native.maxSequenceLength),
    pooling: modules.pooling,
    poolingSource: modules.poolingSource,
    normalize: modules.normalize,
    doLowerCase: modules.doLowerCase,
    tokenizerSource: session.tokenizerSource,
    maxTextsPerCall: resolved.maxItemsPerCall,
    maxTokensPerCall: resolved.maxTokensPerCall,
  };
}
