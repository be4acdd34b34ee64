/**
 * Length-sorted, token-budgeted batches over a packed tokenisation. Sorting by
 * length keeps sequences of similar cost together; the budget bounds the
 * activations one engine call needs, whatever the number of pairs.
 */
import type { EncodedPairs } from './native.js';

export interface Batch {
  /** Input positions of the pairs in this batch, in batch order. */
  indices: Uint32Array;
  ids: Uint32Array;
  typeIds: Uint8Array;
  lengths: Uint32Array;
}

/** Batches of pairs, longest first, each at most `maxBatchTokens` tokens (a longer single pair gets its own batch). */
export function* lengthSortedBatches(encoded: EncodedPairs, maxBatchTokens: number): Generator<Batch> {
  const { ids, typeIds, lengths } = encoded;
  const count = lengths.length;
  const offsets = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) offsets[i + 1] = offsets[i]! + lengths[i]!;

  // Stable: equal lengths keep input order, so results never depend on sort quirks.
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);

  let start = 0;
  while (start < count) {
    let end = start;
    let tokens = 0;
    while (end < count && (end === start || tokens + lengths[order[end]!]! <= maxBatchTokens)) {
      tokens += lengths[order[end]!]!;
      end++;
    }
    const indices = Uint32Array.from(order.slice(start, end));
    const batchIds = new Uint32Array(tokens);
    const batchTypeIds = new Uint8Array(tokens);
    const batchLengths = new Uint32Array(indices.length);
    let at = 0;
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j]!;
      const begin = offsets[i]!;
      const stop = offsets[i + 1]!;
      batchIds.set(ids.subarray(begin, stop), at);
      batchTypeIds.set(typeIds.subarray(begin, stop), at);
      batchLengths[j] = stop - begin;
      at += stop - begin;
    }
    yield { indices, ids: batchIds, typeIds: batchTypeIds, lengths: batchLengths };
    start = end;
  }
}

/** Copies one batch's output rows (rowWidth floats each) back to their input positions. */
export function scatterRows(batchRows: Float32Array, indices: Uint32Array, rowWidth: number, out: Float32Array): void {
  for (let j = 0; j < indices.length; j++) {
    out.set(batchRows.subarray(j * rowWidth, (j + 1) * rowWidth), indices[j]! * rowWidth);
  }
}
