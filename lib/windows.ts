/**
 * Long documents in rank(): with `maxTokensPerDoc`, each document is split
 * into overlapping windows of tokens that each fit beside the query (the Rust
 * tokenizer cuts them, so spans and tokens are exact), every window of every
 * document is scored in the same length-sorted batches, and a document gets
 * its best window's score, as Cohere's and Elasticsearch's rerankers do.
 * Without it, rank() scores one truncated pair per document, as
 * sentence-transformers does, and the tail of a long document is never read.
 */
import type { Items } from './model-session.js';
import type { EncodedPairs, EncodedWindows } from './native.js';
import { optionalInteger } from './validation.js';

export interface WindowOptions {
  /**
   * Score long documents by their best window instead of truncating them:
   * each document is cut to its first `maxTokensPerDoc` tokens, then split
   * into windows that each fit beside the query within the model's maxLength.
   * Unset (the default): one pair per document, truncated to maxLength.
   */
  maxTokensPerDoc?: number;
  /** Tokens consecutive windows share (default: a quarter of a window; at most half a window). */
  windowOverlap?: number;
}

/** Which window of a document gave its score (rank() with maxTokensPerDoc). */
export interface DocumentWindow {
  /** The winning window, 0 for the first. */
  index: number;
  /** Windows the document was split into. */
  count: number;
  /** The window's part of the document: `document.slice(start, end)`. */
  start: number;
  end: number;
}

export interface ResolvedWindows {
  maxTokensPerDoc: number;
  overlap: number | undefined;
}

/** The window options of a rank call, or undefined when documents are truncated as before. */
export function resolveWindowOptions(options: WindowOptions): ResolvedWindows | undefined {
  const maxTokensPerDoc = optionalInteger(options.maxTokensPerDoc, 'options.maxTokensPerDoc', 1, 2 ** 32 - 1);
  const overlap = optionalInteger(options.windowOverlap, 'options.windowOverlap', 0, 2 ** 32 - 1);
  if (maxTokensPerDoc === undefined) {
    if (overlap !== undefined) throw new TypeError('crossrank: options.windowOverlap needs options.maxTokensPerDoc');
    return undefined;
  }
  return { maxTokensPerDoc, overlap };
}

/** Windows as a session call's items: each window's start in the packed ids, computed once. */
export function encodedItems(encoded: EncodedPairs): Items {
  const offsets = new Uint32Array(encoded.lengths.length + 1);
  for (let i = 0; i < encoded.lengths.length; i++) offsets[i + 1] = offsets[i]! + encoded.lengths[i]!;
  return { kind: 'encoded', encoded, offsets };
}

/**
 * Each document's best window: `logits` holds one score per window of
 * `encoded` (in window order); ties keep the earlier window. For schedulers
 * that run the windows of `tokenizeWindowsAsync` in their own batches.
 */
export function bestWindows(
  encoded: EncodedWindows,
  logits: Float32Array,
  documentCount: number,
): { scores: Float32Array; windows: DocumentWindow[] } {
  const windowCount = encoded.lengths.length;
  if (logits.length !== windowCount) {
    throw new RangeError(`crossrank: bestWindows: ${logits.length} scores for ${windowCount} windows`);
  }
  const scores = new Float32Array(documentCount).fill(-Infinity);
  const windows = new Array<DocumentWindow>(documentCount);
  for (let w = 0; w < windowCount; w++) {
    const document = encoded.documents[w]!;
    const previous = windows[document];
    if (previous === undefined) {
      windows[document] = { index: 0, count: 1, start: encoded.starts[w]!, end: encoded.ends[w]! };
      scores[document] = logits[w]!;
      continue;
    }
    if (logits[w]! > scores[document]!) {
      Object.assign(previous, { index: previous.count, start: encoded.starts[w]!, end: encoded.ends[w]! });
      scores[document] = logits[w]!;
    }
    previous.count++;
  }
  return { scores, windows };
}
