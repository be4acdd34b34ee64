/**
 * What bounds one predict call: the caps on pairs and tokens (with errors that
 * say how to raise them) and the chunks the pairs are tokenised in.
 */

/** Pairs one call may score unless `maxPairsPerCall` says otherwise. */
export const DEFAULT_MAX_PAIRS_PER_CALL = 1_000_000;

/** Tokens (after truncation, special tokens included) one call may score unless `maxTokensPerCall` says otherwise. */
export const DEFAULT_MAX_TOKENS_PER_CALL = 100_000_000;

/**
 * Pairs tokenised at a time. The tokenizer's output and its intermediate
 * encodings live only for one chunk, so the memory of a call is bounded by
 * this (times maxLength), not by the number of pairs.
 */
export const TOKENIZE_CHUNK_PAIRS = 2048;

export interface CallLimits {
  maxPairsPerCall: number;
  maxTokensPerCall: number;
}

/** [start, end) ranges of at most TOKENIZE_CHUNK_PAIRS pairs covering [0, count). */
export function* pairChunks(count: number): Generator<readonly [number, number]> {
  for (let start = 0; start < count; start += TOKENIZE_CHUNK_PAIRS) {
    yield [start, Math.min(count, start + TOKENIZE_CHUNK_PAIRS)];
  }
}

export function checkPairLimit(count: number, limits: CallLimits): void {
  if (count > limits.maxPairsPerCall) {
    throw new RangeError(
      `crossrank: this call has ${count} pairs, over maxPairsPerCall (${limits.maxPairsPerCall}); ` +
        'split the call, or raise the limit with the maxPairsPerCall option of predict() or CrossEncoder.load()',
    );
  }
}

/**
 * Whether the token cap can be reached at all: each pair is truncated to
 * maxLength tokens, so below this bound no counting pass is needed.
 */
export function tokenLimitReachable(count: number, maxLength: number, limits: CallLimits): boolean {
  return count * maxLength > limits.maxTokensPerCall;
}

export function tokenLimitError(tokens: number, pairsCounted: number, limits: CallLimits): RangeError {
  return new RangeError(
    `crossrank: this call has over maxTokensPerCall (${limits.maxTokensPerCall}) tokens ` +
      `(${tokens} in its first ${pairsCounted} pairs, after truncation); split the call, or raise the limit ` +
      'with the maxTokensPerCall option of predict() or CrossEncoder.load()',
  );
}

