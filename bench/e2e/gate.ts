/** Correctness gate: a contender's raw logits against crossrank's, value by value and ranking by ranking. */
import { spearman } from '../quality/metrics.js';

export const LOGIT_TOLERANCE = 1e-3;

export interface GateResult {
  maxAbsDiff: number;
  /** Pairs of documents, summed over queries, ordered differently from crossrank. */
  swaps: number;
  passed: boolean;
  reason?: string;
  /** int8 contenders: mean per-query Spearman against crossrank fp32. */
  meanSpearman?: number;
}

/**
 * Logits must agree within LOGIT_TOLERANCE, and each query's ranking must be the same, except that
 * two documents whose crossrank logits differ by less than LOGIT_TOLERANCE may swap.
 */
export function checkAgainstReference(reference: number[], candidate: number[], perQuery: number): GateResult {
  if (candidate.length !== reference.length) {
    return { maxAbsDiff: Infinity, swaps: 0, passed: false, reason: `${candidate.length} logits, expected ${reference.length}` };
  }
  let maxAbsDiff = 0;
  for (let i = 0; i < reference.length; i++) {
    const diff = Math.abs(reference[i]! - candidate[i]!);
    maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(diff) ? Infinity : diff);
  }
  let swaps = 0;
  let badSwaps = 0;
  for (let start = 0; start < reference.length; start += perQuery) {
    const end = Math.min(start + perQuery, reference.length);
    for (let i = start; i < end; i++) {
      for (let j = i + 1; j < end; j++) {
        const expected = Math.sign(reference[i]! - reference[j]!);
        const got = Math.sign(candidate[i]! - candidate[j]!);
        if (expected !== got) {
          swaps++;
          if (Math.abs(reference[i]! - reference[j]!) >= LOGIT_TOLERANCE) badSwaps++;
        }
      }
    }
  }
  const reasons: string[] = [];
  if (maxAbsDiff > LOGIT_TOLERANCE) reasons.push(`max |logit diff| ${maxAbsDiff.toExponential(2)} > ${LOGIT_TOLERANCE}`);
  if (badSwaps > 0) reasons.push(`${badSwaps} document pairs ranked differently with crossrank logits >= ${LOGIT_TOLERANCE} apart`);
  return { maxAbsDiff, swaps, passed: reasons.length === 0, ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
}

/** The int8 bar (the quality issue's): mean per-query Spearman of int8 against fp32 logits. */
export const INT8_MIN_MEAN_SPEARMAN = 0.99;

/** An int8 or bf16 contender against crossrank fp32: mean Spearman per query must reach minSpearman. */
export function checkQuantized(
  reference: number[],
  candidate: number[],
  perQuery: number,
  minSpearman = INT8_MIN_MEAN_SPEARMAN,
): GateResult {
  if (candidate.length !== reference.length) {
    return { maxAbsDiff: Infinity, swaps: 0, passed: false, meanSpearman: NaN, reason: `${candidate.length} logits, expected ${reference.length}` };
  }
  let maxAbsDiff = 0;
  let sum = 0;
  let queries = 0;
  for (let start = 0; start < reference.length; start += perQuery) {
    const end = Math.min(start + perQuery, reference.length);
    sum += spearman(reference.slice(start, end), candidate.slice(start, end));
    queries++;
    for (let i = start; i < end; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(reference[i]! - candidate[i]!));
  }
  const meanSpearman = sum / queries;
  const passed = meanSpearman >= minSpearman;
  return {
    maxAbsDiff,
    swaps: 0,
    passed,
    meanSpearman,
    ...(passed ? {} : { reason: `mean Spearman vs fp32 ${meanSpearman.toFixed(4)} < ${minSpearman}` }),
  };
}
