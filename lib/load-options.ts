/**
 * Every option of loading a model, and its checks, in one place.
 *
 * CrossEncoder.load and SentenceEncoder.load both pass their options through
 * `resolveLoadOptions` here and hand the result to `ModelSession.load`
 * (lib/model-session.ts), which is the one place a model is located and
 * opened. A new load option (say, where a model is fetched from, a cache
 * folder, progress reporting) is declared in `CommonLoadOptions`, checked in
 * `resolveLoadOptions` and used by `ModelSession.load`; neither class needs to
 * change unless the option is theirs alone.
 */
import {
  DEFAULT_MAX_PAIRS_PER_CALL,
  DEFAULT_MAX_TEXTS_PER_CALL,
  DEFAULT_MAX_TOKENS_PER_CALL,
} from './call-limits.js';
import { checkHubOptions, type HubOptions } from './hub/resolve.js';
import type { Dtype } from './native.js';
import { checkOptionsObject, describe, optionalInteger } from './validation.js';

/** The compute precisions of the encoder's linear layers. */
export const DTYPES: readonly Dtype[] = ['fp32', 'int8', 'bf16'];

/** The options both model classes take; those of HubOptions concern models named by hub id. */
export interface CommonLoadOptions extends HubOptions {
  /** Threads of the model's own pool (default: the cores this process may use). */
  threads?: number;
  /** Longest tokenized input, special tokens included (default: the model's, at most max_position_embeddings). */
  maxLength?: number;
  /** Default cap on the tokens of one call, after truncation (a call may pass its own). */
  maxTokensPerCall?: number;
  /**
   * 'int8' runs the encoder's linear layers on int8 weights (quantised at load unless the folder
   * was written by `crossrank quantize`); 'fp32' refuses such a folder. 'bf16' runs them on bf16
   * weights with fp32 sums (rounded at load, or stored by `crossrank quantize --dtype bf16`) and is
   * refused with a ModelLoadError on CPUs without a bf16 kernel (AVX512-BF16). Default: as stored.
   */
  dtype?: Dtype;
}

/** CrossEncoder.load's options. */
export interface LoadOptions extends CommonLoadOptions {
  /** Longest tokenized pair, special tokens included (default: the model's, at most max_position_embeddings). */
  maxLength?: number;
  /** Default cap on the pairs of one predict call (a call may pass its own). */
  maxPairsPerCall?: number;
  /** Default cap on the tokens of one predict call, after truncation (a call may pass its own). */
  maxTokensPerCall?: number;
}

/** SentenceEncoder.load's options. */
export interface SentenceEncoderLoadOptions extends CommonLoadOptions {
  /**
   * Longest tokenized text, special tokens included (default: sentence_bert_config.json's
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

/** What the classes count per call: pairs (CrossEncoder) or texts (SentenceEncoder). */
export type ItemsOption = 'maxPairsPerCall' | 'maxTextsPerCall';

/** Load options after their checks, defaults filled in where they do not depend on the model. */
export interface ResolvedLoadOptions {
  threads: number | undefined;
  dtype: Dtype | undefined;
  /** The maxLength option as given; `resolveMaxLength` settles it once the model is open. */
  maxLength: number | undefined;
  /** The cap on items (pairs or texts) of one call. */
  maxItemsPerCall: number;
  maxTokensPerCall: number;
  /** revision, cacheDir, localFilesOnly, token, onProgress: for a hub id (lib/hub/resolve.ts). */
  hub: HubOptions;
}

const DEFAULT_MAX_ITEMS: Record<ItemsOption, number> = {
  maxPairsPerCall: DEFAULT_MAX_PAIRS_PER_CALL,
  maxTextsPerCall: DEFAULT_MAX_TEXTS_PER_CALL,
};

/**
 * Checks a load call's options; `what` names the call in messages (e.g.
 * 'CrossEncoder.load'), `itemsOption` is the class's cap on items.
 */
export function resolveLoadOptions(options: unknown, what: string, itemsOption: ItemsOption): ResolvedLoadOptions {
  checkOptionsObject(options, `${what} options`);
  const given = options as CommonLoadOptions & Partial<Record<ItemsOption, unknown>>;
  const threads = optionalInteger(given.threads, 'options.threads', 1, 256);
  const maxLength = optionalInteger(given.maxLength, 'options.maxLength', 4, 1 << 20);
  const maxItemsPerCall =
    optionalInteger(given[itemsOption], `options.${itemsOption}`, 1, Number.MAX_SAFE_INTEGER) ??
    DEFAULT_MAX_ITEMS[itemsOption];
  const maxTokensPerCall =
    optionalInteger(given.maxTokensPerCall, 'options.maxTokensPerCall', 1, Number.MAX_SAFE_INTEGER) ??
    DEFAULT_MAX_TOKENS_PER_CALL;
  const { revision, cacheDir, localFilesOnly, token, onProgress } = given;
  const hub = { revision, cacheDir, localFilesOnly, token, onProgress };
  checkHubOptions(hub);
  return { threads, dtype: checkDtype(given.dtype), maxLength, maxItemsPerCall, maxTokensPerCall, hub };
}

function checkDtype(dtype: unknown): Dtype | undefined {
  if (dtype === undefined) return undefined;
  if (typeof dtype !== 'string') {
    throw new TypeError(`crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got ${describe(dtype)}`);
  }
  if (!DTYPES.includes(dtype as Dtype)) {
    throw new RangeError(`crossrank: options.dtype must be 'fp32', 'int8' or 'bf16', got ${JSON.stringify(dtype)}`);
  }
  return dtype as Dtype;
}

/**
 * The longest input a model instance accepts: the maxLength option when
 * given, else the folder's own limit (`folderLimit`, e.g. the tokenizer's
 * model_max_length), never above the positions the model has
 * (`positions`: max_position_embeddings, less pad_token_id + 1 for RoBERTa).
 */
export function resolveMaxLength(option: number | undefined, folderLimit: number | null | undefined, positions: number): number {
  if (option === undefined) return Math.min(folderLimit ?? positions, positions);
  if (option > positions) {
    throw new RangeError(`crossrank: options.maxLength ${option} exceeds this model's max_position_embeddings (${positions})`);
  }
  return option;
}

/**
 * The model a load call names, checked: a folder path or hub id as given, or
 * undefined when it was left out (and `defaultAllowed`, for the default model).
 */
export function modelSource(path: unknown, what: string, defaultAllowed: boolean): string | undefined {
  if (path === undefined && defaultAllowed) return undefined;
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(
      `crossrank: ${what}(nameOrPath): nameOrPath must be a non-empty string (a folder or a hub id)` +
        (defaultAllowed ? ' (or left out for the default model)' : ''),
    );
  }
  return path;
}
