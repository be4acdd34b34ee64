/** The packing helpers predict and the server share: offsets, longest-first order, gather, scatter, budgeted batches. */
import test from 'ava';

import { gatherSequences, lengthSortedBatches, longestFirst, scatterRows, withOffsets } from '../lib/batching.js';
import type { EncodedPairs } from '../lib/native.js';

/** Sequence i is `lengths[i]` tokens, each token id 1000 * i + position and type id position % 2: every token names its place. */
function labelled(lengths: number[]): EncodedPairs {
  const ids: number[] = [];
  const typeIds: number[] = [];
  lengths.forEach((length, i) => {
    for (let p = 0; p < length; p++) {
      ids.push(1000 * i + p);
      typeIds.push(p % 2);
    }
  });
  return { ids: Uint32Array.from(ids), typeIds: Uint8Array.from(typeIds), lengths: Uint32Array.from(lengths) };
}

const lengths = [3, 7, 1, 7, 4, 2, 7, 5];

test('offsets mark where each sequence starts', (t) => {
  const packed = withOffsets(labelled(lengths));
  t.deepEqual(Array.from(packed.offsets), [0, 3, 10, 11, 18, 22, 24, 31, 36]);
  t.deepEqual(Array.from(withOffsets(labelled([])).offsets), [0]);
});

test('longest first, ties in input order', (t) => {
  t.deepEqual(Array.from(longestFirst(Uint32Array.from(lengths))), [1, 3, 6, 7, 4, 0, 5, 2]);
});

test('gather packs the chosen sequences whole, in the order asked, across sources', (t) => {
  const a = withOffsets(labelled(lengths));
  const b = withOffsets(labelled([2, 6]));
  const got = gatherSequences([
    { from: a, index: 4 },
    { from: b, index: 1 },
    { from: a, index: 0 },
  ]);
  t.deepEqual(Array.from(got.lengths), [4, 6, 3]);
  t.deepEqual(Array.from(got.ids), [4000, 4001, 4002, 4003, 1000, 1001, 1002, 1003, 1004, 1005, 0, 1, 2]);
  t.deepEqual(Array.from(got.typeIds), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
});

test('batches stay under the token budget, longest first, and cover every sequence once', (t) => {
  const encoded = labelled(lengths);
  const budget = 10;
  const batches = [...lengthSortedBatches(encoded, budget)];
  t.deepEqual(
    batches.map((batch) => Array.from(batch.indices)),
    [[1], [3], [6], [7, 4], [0, 5, 2]],
  );
  for (const batch of batches) {
    t.true(batch.ids.length <= budget);
    // Each sequence arrives whole: its first token names it.
    let at = 0;
    batch.indices.forEach((index, j) => {
      t.is(batch.lengths[j], lengths[index]);
      t.is(batch.ids[at], 1000 * index);
      at += batch.lengths[j]!;
    });
  }
  // A sequence over the budget still runs, alone.
  t.deepEqual(
    [...lengthSortedBatches(encoded, 2)].map((batch) => batch.indices.length),
    lengths.map(() => 1),
  );
});

test('scatter puts each batch row back at its input position', (t) => {
  const rowWidth = 2;
  const out = new Float32Array(lengths.length * rowWidth);
  for (const batch of lengthSortedBatches(labelled(lengths), 10)) {
    // A fake engine: each row holds the first token id of its sequence and its length.
    const rows = new Float32Array(batch.indices.length * rowWidth);
    let at = 0;
    batch.lengths.forEach((length, j) => {
      rows[j * rowWidth] = batch.ids[at]!;
      rows[j * rowWidth + 1] = length;
      at += length;
    });
    scatterRows(rows, batch.indices, rowWidth, out);
  }
  t.deepEqual(
    Array.from(out),
    lengths.flatMap((length, i) => [1000 * i, length]),
  );
});
