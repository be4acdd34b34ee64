/** Ranking and vector comparisons for the int8 quality gate (bench/quality.ts, test/int8-quality.test.ts). */

/** 1-based ranks of values, ties sharing their average rank (as scipy.stats.rankdata). */
export function ranks(values: ArrayLike<number>): Float64Array {
  const order = Array.from(values, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const out = new Float64Array(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && values[order[end]!] === values[order[start]!]) end++;
    const average = (start + end + 1) / 2; // mean of the 1-based ranks start+1 .. end
    for (let i = start; i < end; i++) out[order[i]!] = average;
    start = end;
  }
  return out;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < a.length; i++) {
    meanA += a[i]!;
    meanB += b[i]!;
  }
  meanA /= a.length;
  meanB /= b.length;
  let covariance = 0;
  let varianceA = 0;
  let varianceB = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - meanA;
    const db = b[i]! - meanB;
    covariance += da * db;
    varianceA += da * da;
    varianceB += db * db;
  }
  return covariance / Math.sqrt(varianceA * varianceB);
}

/** Spearman's rank correlation (Pearson on tie-averaged ranks); NaN when either side is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`spearman: ${a.length} values against ${b.length}`);
  return pearson(ranks(a), ranks(b));
}

/** Indices of the k largest scores, best first (ties in index order). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  return Array.from(scores, (_, i) => i)
    .sort((x, y) => scores[y]! - scores[x]! || x - y)
    .slice(0, k);
}

/** True when both score lists put the same k documents first, in the same order. */
export function sameTopK(a: ArrayLike<number>, b: ArrayLike<number>, k: number): boolean {
  const ta = topK(a, k);
  const tb = topK(b, k);
  return ta.every((index, position) => tb[position] === index);
}

/** True when both score lists put the same k documents first, in any order. */
export function sameTopKSet(a: ArrayLike<number>, b: ArrayLike<number>, k: number): boolean {
  const tb = new Set(topK(b, k));
  return topK(a, k).every((index) => tb.has(index));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/**
 * nDCG@10 as trec_eval computes it: graded gains (0-3) used linearly, log2(rank + 1) discount,
 * unjudged documents gain 0; the ideal ordering is over every judged document of the query.
 */
export function ndcgAt10(rankedDocids: readonly string[], judgements: Readonly<Record<string, string | number>>): number {
  const gain = (docid: string): number => Number(judgements[docid] ?? 0);
  let dcg = 0;
  rankedDocids.slice(0, 10).forEach((docid, i) => {
    dcg += gain(docid) / Math.log2(i + 2);
  });
  const ideal = Object.values(judgements)
    .map(Number)
    .sort((x, y) => y - x)
    .slice(0, 10);
  let idcg = 0;
  ideal.forEach((g, i) => {
    idcg += g / Math.log2(i + 2);
  });
  return idcg === 0 ? 0 : dcg / idcg;
}
