/**
 * Packing sequences into engine batches, for every scheduler: predict's
 * length-sorted, token-budgeted batches (lengthSortedBatches) and the
 * server's batches across requests (lib/server/batcher.ts) both find each
 * sequence by its offsets, order sequences longest first, gather the chosen
 * ones into one packed batch and scatter the output rows back.
 *
 * Sorting by length keeps sequences of similar cost together; the budget
 * bounds the activations one engine call needs, whatever the number of pairs.
 */
import type { EncodedPairs } from './native.js';

export interface Batch extends EncodedPairs {
  /** Input positions of the pairs in this batch, in batch order. */
  indices: Uint32Array;
}

/** A packed tokenization and where each sequence starts: sequence i is [offsets[i], offsets[i + 1]). */
export interface PackedSequences extends EncodedPairs {
  offsets: Uint32Array;
}

/** One sequence to gather: sequence `index` of `from`. */
export interface SequenceRef {
  from: PackedSequences;
  index: number;
}

export function withOffsets(encoded: EncodedPairs): PackedSequences {
  const { lengths } = encoded;
  const offsets = new Uint32Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) offsets[i + 1] = offsets[i]! + lengths[i]!;
  return { ...encoded, offsets };
}

/** Sequence positions, longest first; stable, so equal lengths keep input order and results never depend on sort quirks. */
export function longestFirst(lengths: Uint32Array): Uint32Array {
  return Uint32Array.from({ length: lengths.length }, (_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
}

/** The chosen sequences, in the order given, packed into one batch's ids, type ids and lengths. */
export function gatherSequences(refs: readonly SequenceRef[]): EncodedPairs {
  let tokens = 0;
  for (const { from, index } of refs) tokens += from.lengths[index]!;
  const ids = new Uint32Array(tokens);
  const typeIds = new Uint8Array(tokens);
  const lengths = new Uint32Array(refs.length);
  let at = 0;
  refs.forEach(({ from, index }, j) => {
    const begin = from.offsets[index]!;
    const end = from.offsets[index + 1]!;
    ids.set(from.ids.subarray(begin, end), at);
    typeIds.set(from.typeIds.subarray(begin, end), at);
    lengths[j] = end - begin;
    at += end - begin;
  });
  return { ids, typeIds, lengths };
}

/** Batches of pairs, longest first, each at most `maxBatchTokens` tokens (a longer single pair gets its own batch). */
export function* lengthSortedBatches(encoded: EncodedPairs, maxBatchTokens: number): Generator<Batch> {
  const packed = withOffsets(encoded);
  const { lengths } = packed;
  const order = longestFirst(lengths);
  let start = 0;
  while (start < order.length) {
    let end = start;
    let tokens = 0;
    while (end < order.length && (end === start || tokens + lengths[order[end]!]! <= maxBatchTokens)) {
      tokens += lengths[order[end]!]!;
      end++;
    }
    const indices = order.slice(start, end);
    yield { indices, ...gatherSequences(Array.from(indices, (index) => ({ from: packed, index }))) };
    start = end;
  }
}

/** Copies row `fromRow` of `from` to row `toRow` of `to`, rows of rowWidth floats. */
export function copyRow(from: Float32Array, fromRow: number, to: Float32Array, toRow: number, rowWidth: number): void {
  to.set(from.subarray(fromRow * rowWidth, (fromRow + 1) * rowWidth), toRow * rowWidth);
}

/** Copies one batch's output rows (rowWidth floats each) back to their input positions. */
export function scatterRows(batchRows: Float32Array, indices: Uint32Array, rowWidth: number, out: Float32Array): void {
  for (let j = 0; j < indices.length; j++) copyRow(batchRows, j, out, indices[j]!, rowWidth);
}
