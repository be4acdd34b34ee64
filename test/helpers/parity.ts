/** Checks a model folder against its PyTorch goldens: token ids exactly, logits within a tolerance. */
import type { ExecutionContext } from 'ava';

import type * as Crossrank from '../../lib/index.js';
import { type GoldenCase, type GoldenFile, resolveText } from './goldens.js';

export interface ParityResult {
  cases: number;
  maxLogitDiff: number;
  worstCase: string;
}

export async function checkParity(
  t: ExecutionContext,
  crossrank: typeof Crossrank,
  modelDir: string,
  goldens: GoldenFile,
  tolerance: number,
  select: (c: GoldenCase) => boolean = () => true,
): Promise<ParityResult> {
  const cases = goldens.cases.filter(select);
  t.true(cases.length > 0, 'no golden cases selected');
  const groups = new Map<string, GoldenCase[]>();
  for (const c of cases) {
    const key = `${c.maxLength}/${c.truncation}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }

  let maxLogitDiff = 0;
  let worstCase = '';
  let idMismatches = 0;
  for (const group of groups.values()) {
    const { maxLength, truncation } = group[0]!;
    const model = crossrank.CrossEncoder.load(modelDir, { maxLength });
    try {
      t.is(model.config.numLabels, goldens.numLabels);
      const pairs = group.map((c) => [resolveText(c.query), resolveText(c.passage)] as const);
      const encoded = model.tokenize(pairs, { truncation });
      let offset = 0;
      for (const [i, c] of group.entries()) {
        const length = encoded.lengths[i]!;
        const ids = Array.from(encoded.ids.subarray(offset, offset + length));
        const typeIds = Array.from(encoded.typeIds.subarray(offset, offset + length));
        offset += length;
        if (JSON.stringify(ids) !== JSON.stringify(c.ids) || JSON.stringify(typeIds) !== JSON.stringify(c.typeIds)) {
          idMismatches++;
          t.deepEqual({ ids, typeIds }, { ids: c.ids, typeIds: c.typeIds }, `token ids of case "${c.name}"`);
        }
      }

      const logits = await model.predict(pairs, { truncation, activation: 'none' });
      t.is(logits.length, group.length * goldens.numLabels);
      for (const [i, c] of group.entries()) {
        for (let j = 0; j < goldens.numLabels; j++) {
          const diff = Math.abs(logits[i * goldens.numLabels + j]! - c.logits[j]!);
          if (!(diff <= maxLogitDiff)) {
            maxLogitDiff = Number.isNaN(diff) ? Infinity : diff;
            worstCase = c.name;
          }
        }
      }
    } finally {
      model.dispose();
    }
  }
  t.is(idMismatches, 0, 'pairs whose token ids differ from Hugging Face');
  t.log(`${cases.length} cases, max |logit - PyTorch| = ${maxLogitDiff.toExponential(3)} (worst: ${worstCase})`);
  t.true(maxLogitDiff <= tolerance, `max |logit diff| ${maxLogitDiff} exceeds ${tolerance} (case "${worstCase}")`);
  return { cases: cases.length, maxLogitDiff, worstCase };
}
