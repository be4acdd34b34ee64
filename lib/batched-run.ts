/**
 * The machinery every model call shares: tokenize the items (pairs or texts)
 * a chunk at a time, count tokens against the call's cap, cut each chunk into
 * length-sorted batches under a token budget, run the batches one after
 * another on the model's engine queue and put each output row back at its
 * item's position. Memory does not grow with the number of items.
 */
import { join } from 'node:path';

import { type Batch, lengthSortedBatches, scatterRows } from './batching.js';
import { type CallCaps, pairChunks, tokenLimitError, tokenLimitReachable } from './call-limits.js';
import type { EncodedPairs } from './native.js';

/** What token ids are checked against before the engine runs. */
export interface VocabularyLimits {
  /** The model folder, for messages. */
  path: string;
  vocabSize: number;
  typeVocabSize: number;
}

export interface BatchedCall {
  /** Items (pairs or texts) in the call. */
  count: number;
  /** Longest tokenized item. */
  maxLength: number;
  caps: CallCaps;
  maxBatchTokens: number;
  /** Floats of output per item. */
  rowWidth: number;
  vocabulary: VocabularyLimits;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
  /** Throws when the model can no longer be used (disposed). */
  assertUsable: () => void;
}

export interface AsyncBatchedCall extends BatchedCall {
  /** Tokenizes items [start, end) off the JS thread. */
  tokenizeChunk: (start: number, end: number) => Promise<EncodedPairs>;
  /** Runs one batch (queued behind other engine calls); rowWidth floats per item, in batch order. */
  runBatch: (batch: Batch) => Promise<Float32Array>;
}

export interface SyncBatchedCall extends BatchedCall {
  tokenizeChunk: (start: number, end: number) => EncodedPairs;
  runBatch: (batch: Batch) => Float32Array;
}

/** Runs the call's batches; resolves to count x rowWidth floats in input order. */
export async function runBatched(call: AsyncBatchedCall): Promise<Float32Array> {
  const walk = batchedCall(call);
  for (let next = walk.next(); ; ) {
    if (next.done) return next.value;
    next = walk.next(await perform(call, next.value));
  }
}

/** `runBatched` on the calling thread. */
export function runBatchedSync(call: SyncBatchedCall): Float32Array {
  const walk = batchedCall(call);
  for (let next = walk.next(); ; ) {
    if (next.done) return next.value;
    next = walk.next(perform(call, next.value));
  }
}

/** What the walk asks its driver for: a chunk's tokens, or a batch's output rows. */
type Step = { kind: 'tokenize'; start: number; end: number } | { kind: 'run'; batch: Batch };
type StepResult = EncodedPairs | Float32Array;

/** Does one step for the walk: on the calling thread for a sync call, as a promise for an async one. */
function perform(call: AsyncBatchedCall, step: Step): Promise<StepResult>;
function perform(call: SyncBatchedCall, step: Step): StepResult;
function perform(call: AsyncBatchedCall | SyncBatchedCall, step: Step): StepResult | Promise<StepResult> {
  return step.kind === 'tokenize' ? call.tokenizeChunk(step.start, step.end) : call.runBatch(step.batch);
}

/**
 * The whole call, written once: a generator that yields each tokenization
 * and each engine batch it needs, so the async driver can await them and the
 * sync one cannot, with the same checks in the same order.
 */
function* batchedCall(call: BatchedCall): Generator<Step, Float32Array, StepResult> {
  const { count, signal } = call;
  const out = new Float32Array(count * call.rowWidth);
  if (tokenLimitReachable(count, call.maxLength, call.caps)) {
    const budget = new TokenBudget(call.caps);
    for (const [start, end] of pairChunks(count)) {
      const encoded = (yield { kind: 'tokenize', start, end }) as EncodedPairs;
      signal?.throwIfAborted();
      budget.add(encoded.ids.length, end);
    }
  }
  let done = 0;
  for (const [start, end] of pairChunks(count)) {
    const encoded = (yield { kind: 'tokenize', start, end }) as EncodedPairs;
    checkTokenIds(encoded, start, call);
    const chunkOut = out.subarray(start * call.rowWidth, end * call.rowWidth);
    for (const batch of lengthSortedBatches(encoded, call.maxBatchTokens)) {
      // Disposed, or aborted (by another call or an onProgress callback), since the last batch.
      call.assertUsable();
      signal?.throwIfAborted();
      const rows = (yield { kind: 'run', batch }) as Float32Array;
      scatterRows(rows, batch.indices, call.rowWidth, chunkOut);
      done += batch.indices.length;
      call.onProgress?.(done, count);
    }
  }
  return out;
}

/** Running total of a call's tokens against its cap. */
class TokenBudget {
  #tokens = 0;
  readonly #caps: CallCaps;

  constructor(caps: CallCaps) {
    this.#caps = caps;
  }

  /** Adds the tokens of the items up to itemsCounted; throws once the cap is passed. */
  add(tokens: number, itemsCounted: number): void {
    this.#tokens += tokens;
    if (this.#tokens > this.#caps.maxTokens) throw tokenLimitError(this.#tokens, itemsCounted, this.#caps);
  }
}

/**
 * The engine refuses ids outside its tables too; checking here names the item
 * and the likely cause (tokenizer files that do not match config.json).
 */
function checkTokenIds(encoded: EncodedPairs, firstItem: number, call: BatchedCall): void {
  const { ids, typeIds, lengths } = encoded;
  const { vocabulary } = call;
  let item = 0;
  let itemEnd = lengths[0] ?? 0;
  for (let t = 0; t < ids.length; t++) {
    while (t >= itemEnd) itemEnd += lengths[++item]!;
    const bad =
      ids[t]! >= vocabulary.vocabSize
        ? `token id ${ids[t]} is outside the vocabulary (vocab_size ${vocabulary.vocabSize})`
        : typeIds[t]! >= vocabulary.typeVocabSize
          ? `token type id ${typeIds[t]} is outside [0, ${vocabulary.typeVocabSize}) (type_vocab_size)`
          : undefined;
    if (bad !== undefined) {
      throw new RangeError(
        `crossrank: ${call.caps.items}[${firstItem + item}]: ${bad} of ${join(vocabulary.path, 'config.json')}; ` +
          "the model's tokenizer files do not match its config.json",
      );
    }
  }
}
