/**
 * What bounds one call: the caps on items (pairs or texts) and tokens (with
 * errors that say how to raise them) and the chunks the items are tokenized in.
 */

/** Tokens per engine call unless `maxBatchTokens` says otherwise. */
export const DEFAULT_MAX_BATCH_TOKENS = 4096;

/** Pairs one call may score unless `maxPairsPerCall` says otherwise. */
export const DEFAULT_MAX_PAIRS_PER_CALL = 1_000_000;

/** Texts one call may embed unless `maxTextsPerCall` says otherwise. */
export const DEFAULT_MAX_TEXTS_PER_CALL = 1_000_000;

/** Tokens (after truncation, special tokens included) one call may score unless `maxTokensPerCall` says otherwise. */
export const DEFAULT_MAX_TOKENS_PER_CALL = 100_000_000;

/**
 * Pairs tokenized at a time. The tokenizer's output and its intermediate
 * encodings live only for one chunk, so the memory of a call is bounded by
 * this (times maxLength), not by the number of pairs.
 */
export const TOKENIZE_CHUNK_PAIRS = 2048;

export interface CallLimits {
  maxPairsPerCall: number;
  maxTokensPerCall: number;
}

/** A call's caps, whatever it counts, and the names its errors give them. */
export interface CallCaps {
  /** The most items (pairs or texts) of one call. */
  maxItems: number;
  maxTokens: number;
  /** 'pairs' or 'texts'. */
  items: string;
  /** The option that sets maxItems, e.g. 'maxPairsPerCall'. */
  itemsOption: string;
  /** Where the options may be passed, e.g. 'predict() or CrossEncoder.load()'. */
  where: string;
}

/** The caps of a CrossEncoder call (predict, rank, encode). */
export function pairCaps(limits: CallLimits, method = 'predict()'): CallCaps {
  return {
    maxItems: limits.maxPairsPerCall,
    maxTokens: limits.maxTokensPerCall,
    items: 'pairs',
    itemsOption: 'maxPairsPerCall',
    where: `${method} or CrossEncoder.load()`,
  };
}

/** [start, end) ranges of at most TOKENIZE_CHUNK_PAIRS items covering [0, count). */
export function* pairChunks(count: number): Generator<readonly [number, number]> {
  for (let start = 0; start < count; start += TOKENIZE_CHUNK_PAIRS) {
    yield [start, Math.min(count, start + TOKENIZE_CHUNK_PAIRS)];
  }
}

export function checkItemLimit(count: number, caps: CallCaps): void {
  if (count > caps.maxItems) {
    throw new RangeError(
      `crossrank: this call has ${count} ${caps.items}, over ${caps.itemsOption} (${caps.maxItems}); ` +
        `split the call, or raise the limit with the ${caps.itemsOption} option of ${caps.where}`,
    );
  }
}

/**
 * Whether the token cap can be reached at all: each item is truncated to
 * maxLength tokens, so below this bound no counting pass is needed.
 */
export function tokenLimitReachable(count: number, maxLength: number, caps: CallCaps): boolean {
  return count * maxLength > caps.maxTokens;
}

export function tokenLimitError(tokens: number, itemsCounted: number, caps: CallCaps): RangeError {
  return new RangeError(
    `crossrank: this call has over maxTokensPerCall (${caps.maxTokens}) tokens ` +
      `(${tokens} in its first ${itemsCounted} ${caps.items}, after truncation); split the call, or raise the limit ` +
      `with the maxTokensPerCall option of ${caps.where}`,
  );
}
