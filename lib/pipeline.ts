/**
 * Retrieve, then rerank: a bi-encoder picks the `retrieveK` documents nearest
 * the query by cosine similarity, and the cross-encoder rescores those alone.
 * The bi-encoder's document embeddings can be computed once (DocumentIndex)
 * and searched for many queries.
 */
import type { CrossEncoder, RankOptions } from './cross-encoder.js';

/** What retrieval needs of a bi-encoder; SentenceEncoder has it. */
export interface TextEmbedder {
  /** Width of one embedding. */
  readonly dimension: number;
  embed(
    texts: readonly string[],
    options?: { normalize?: boolean; signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
  ): Promise<Float32Array>;
}

export interface SearchHit {
  /** Position of the document in the indexed array. */
  index: number;
  /** Cosine similarity between the query and the document. */
  score: number;
}

export interface PipelineResult {
  /** Position of the document in the input array (or the index's documents). */
  index: number;
  /** The cross-encoder's score (after its activation, as CrossEncoder#rank gives it). */
  score: number;
  /** The bi-encoder's cosine similarity. */
  retrievalScore: number;
  /** 0-based rank the bi-encoder gave the document. */
  retrievalRank: number;
  document?: string;
}

export interface RetrieveAndRerankOptions {
  /** The bi-encoder (for example a SentenceEncoder). Needed unless documents is a DocumentIndex. */
  encoder?: TextEmbedder;
  /** The cross-encoder that rescores the retrieved documents. */
  reranker: CrossEncoder;
  /** How many documents the bi-encoder hands to the cross-encoder (default 100). */
  retrieveK?: number;
  /** Keep only the best `topK` after reranking (default: all retrieved). */
  topK?: number;
  /** Include each document's text in its result. */
  returnDocuments?: boolean;
  /** Options passed to the cross-encoder's rank (batch size, truncation, activation). */
  rerank?: Omit<RankOptions, 'topK' | 'returnDocuments' | 'signal'>;
  signal?: AbortSignal;
}

export const DEFAULT_RETRIEVE_K = 100;

function checkTexts(texts: unknown, name: string): asserts texts is readonly string[] {
  if (!Array.isArray(texts)) throw new TypeError(`crossrank: ${name} must be an array of strings`);
  texts.forEach((text, i) => {
    if (typeof text !== 'string') throw new TypeError(`crossrank: ${name}[${i}] must be a string, got ${typeof text}`);
  });
}

function checkCount(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`crossrank: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function checkEmbedder(encoder: unknown, name: string): asserts encoder is TextEmbedder {
  const candidate = encoder as Partial<TextEmbedder> | null;
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.embed !== 'function') {
    throw new TypeError(`crossrank: ${name} must be a bi-encoder with an embed(texts) method (a SentenceEncoder)`);
  }
}

/** Scales each row of `rows` (count x dimension) to unit length; zero rows stay zero. */
function normalizeRows(rows: Float32Array, dimension: number): void {
  for (let start = 0; start < rows.length; start += dimension) {
    let norm = 0;
    for (let j = 0; j < dimension; j++) norm += rows[start + j]! * rows[start + j]!;
    if (norm === 0) continue;
    const inverse = 1 / Math.sqrt(norm);
    for (let j = 0; j < dimension; j++) rows[start + j]! *= inverse;
  }
}

/** Documents embedded once by a bi-encoder, searched by cosine similarity. */
export class DocumentIndex {
  readonly documents: readonly string[];
  readonly encoder: TextEmbedder;
  /** Unit-length document embeddings, documents.length x dimension, row-major. */
  readonly embeddings: Float32Array;
  readonly dimension: number;

  private constructor(encoder: TextEmbedder, documents: readonly string[], embeddings: Float32Array) {
    this.encoder = encoder;
    this.documents = documents;
    this.embeddings = embeddings;
    this.dimension = encoder.dimension;
  }

  static async build(
    encoder: TextEmbedder,
    documents: readonly string[],
    options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<DocumentIndex> {
    checkEmbedder(encoder, 'DocumentIndex.build(encoder, documents): encoder');
    checkTexts(documents, 'DocumentIndex.build(encoder, documents): documents');
    const copy = Object.freeze([...documents]);
    const embeddings = await encoder.embed(copy, { normalize: true, signal: options.signal, onProgress: options.onProgress });
    if (embeddings.length !== copy.length * encoder.dimension) {
      throw new Error(
        `crossrank: the encoder returned ${embeddings.length} floats for ${copy.length} documents of dimension ${encoder.dimension}`,
      );
    }
    // normalize: true already gives unit rows; this keeps cosine right for an
    // embedder that ignores the option.
    normalizeRows(embeddings, encoder.dimension);
    return new DocumentIndex(encoder, copy, embeddings);
  }

  /** The `topK` documents most similar to the query, best first (ties: lower index first). */
  async search(query: string, topK: number, options: { signal?: AbortSignal } = {}): Promise<SearchHit[]> {
    if (typeof query !== 'string') throw new TypeError('crossrank: search(query, topK): query must be a string');
    const k = checkCount(topK, 'search(query, topK): topK')!;
    const queryEmbedding = await this.encoder.embed([query], { normalize: true, signal: options.signal });
    normalizeRows(queryEmbedding, this.dimension);
    return this.searchEmbedding(queryEmbedding, k);
  }

  /** As search, for a query already embedded (dimension floats). */
  searchEmbedding(queryEmbedding: Float32Array, topK: number): SearchHit[] {
    if (queryEmbedding.length !== this.dimension) {
      throw new RangeError(
        `crossrank: searchEmbedding: the query embedding has ${queryEmbedding.length} floats, the index ${this.dimension}`,
      );
    }
    const dimension = this.dimension;
    const scores = new Float32Array(this.documents.length);
    for (let d = 0; d < this.documents.length; d++) {
      let dot = 0;
      const row = d * dimension;
      for (let j = 0; j < dimension; j++) dot += this.embeddings[row + j]! * queryEmbedding[j]!;
      scores[d] = dot;
    }
    const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
    return order.slice(0, Math.min(checkCount(topK, 'searchEmbedding: topK')!, order.length)).map((index) => ({
      index,
      score: scores[index]!,
    }));
  }
}

/**
 * Retrieves the `retrieveK` documents nearest the query with the bi-encoder,
 * then reranks them with the cross-encoder; results best first by the
 * cross-encoder's score. `documents` may be a DocumentIndex built once.
 */
export async function retrieveAndRerank(
  query: string,
  documents: readonly string[] | DocumentIndex,
  options: RetrieveAndRerankOptions,
): Promise<PipelineResult[]> {
  if (typeof query !== 'string') throw new TypeError('crossrank: retrieveAndRerank(query, documents, options): query must be a string');
  if (options === null || typeof options !== 'object') {
    throw new TypeError('crossrank: retrieveAndRerank(query, documents, options): options must be an object with a reranker');
  }
  const { reranker } = options;
  if (reranker === null || typeof reranker !== 'object' || typeof (reranker as CrossEncoder).rank !== 'function') {
    throw new TypeError('crossrank: retrieveAndRerank: options.reranker must be a CrossEncoder');
  }
  const retrieveK = checkCount(options.retrieveK, 'retrieveAndRerank: options.retrieveK') ?? DEFAULT_RETRIEVE_K;
  const topK = checkCount(options.topK, 'retrieveAndRerank: options.topK');

  let index: DocumentIndex;
  if (documents instanceof DocumentIndex) {
    index = documents;
  } else {
    checkTexts(documents, 'retrieveAndRerank: documents');
    checkEmbedder(options.encoder, 'retrieveAndRerank: options.encoder');
    index = await DocumentIndex.build(options.encoder, documents, { signal: options.signal });
  }
  const hits = await index.search(query, retrieveK, { signal: options.signal });
  const ranked = await reranker.rank(
    query,
    hits.map((hit) => index.documents[hit.index]!),
    { ...options.rerank, topK, signal: options.signal },
  );
  return ranked.map((result) => {
    const hit = hits[result.index]!;
    return {
      index: hit.index,
      score: result.score,
      retrievalScore: hit.score,
      retrievalRank: result.index,
      ...(options.returnDocuments ? { document: index.documents[hit.index]! } : {}),
    };
  });
}
