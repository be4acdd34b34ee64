/**
 * The reranker shipped inside the package: all-MiniLM-L6-v2 fine-tuned as a
 * cross-encoder on the TREC DL 2020 judgements (scripts/train-reranker.py),
 * stored pre-quantised in int8 (crossrank quantize). Its model card is the
 * README.md in its folder.
 */
import { join } from 'node:path';

import { packageRoot } from './native.js';

export const DEFAULT_MODEL_NAME = 'crossrank-minilm-l6-dl20-int8';

/** Absolute path of the default model's folder. */
export function defaultModelPath(): string {
  return join(packageRoot(), 'models', DEFAULT_MODEL_NAME);
}
