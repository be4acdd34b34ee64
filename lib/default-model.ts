/**
 * The model `CrossEncoder.load()` loads when given no name: the hub's
 * cross-encoder/ms-marco-MiniLM-L6-v2, as sentence-transformers' documentation
 * suggests (downloaded once into the huggingface_hub cache).
 *
 * The small reranker trained in this repository (scripts/train-reranker.py)
 * stays in the repository, not the npm package, as an offline model for the
 * demo and the tests; its model card (models/<name>/README.md) gives its
 * quality, which is below the bi-encoder's on held-out TREC DL 2020 queries.
 */
import { join } from 'node:path';

import { packageRoot } from './native.js';

/** Hub id of the default cross-encoder. */
export const DEFAULT_MODEL_ID = 'cross-encoder/ms-marco-MiniLM-L6-v2';

/** The repository's offline model: all-MiniLM-L6-v2 fine-tuned on TREC DL 2020, int8. Not in the npm package. */
export const OFFLINE_MODEL_NAME = 'crossrank-minilm-l6-dl20-int8';

/** Absolute path of the repository's offline model (present in a git checkout only). */
export function offlineModelPath(): string {
  return join(packageRoot(), 'models', OFFLINE_MODEL_NAME);
}
