/** Where the test models and goldens live, and the rule for a missing one. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { notRun } from './not-run.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
export const tinyDir = join(fixturesDir, 'tiny');
export const sharedDataDir = process.env['CROSSRANK_SHARED_DATA'] ?? resolve(repoRoot, '..', 'shared', 'data');

/** The all-MiniLM-L6-v2 cross-encoder folder laid out by scripts/fetch-models.sh. */
export const minilmDir =
  process.env['CROSSRANK_MODEL_DIR'] ??
  join(process.env['CROSSRANK_CACHE'] ?? join(repoRoot, '.cache'), 'models', 'minilm-l6-cross-encoder');

/**
 * Whether a fixture that comes from set-up scripts or ../shared is present.
 * In CI a missing one is a failure, never a skip; elsewhere the caller skips
 * and it is listed as not run (helpers/not-run.ts).
 */
export function fixtureAvailable(path: string, howToGetIt: string): boolean {
  if (existsSync(path)) return true;
  notRun(`tests that need ${path}`, `missing test fixture; ${howToGetIt}`);
  return false;
}

/** The all-MiniLM-L6-v2 sentence-transformers folder laid out by scripts/fetch-models.sh. */
export const sentenceMinilmDir =
  process.env['CROSSRANK_SENTENCE_MODEL_DIR'] ??
  join(process.env['CROSSRANK_CACHE'] ?? join(repoRoot, '.cache'), 'models', 'all-minilm-l6-v2');

export const sentenceMinilmAvailable = (): boolean =>
  fixtureAvailable(join(sentenceMinilmDir, 'model.safetensors'), 'run scripts/fetch-models.sh');

export const minilmAvailable = (): boolean =>
  fixtureAvailable(join(minilmDir, 'model.safetensors'), 'run scripts/fetch-models.sh');

export const sharedDataAvailable = (): boolean =>
  fixtureAvailable(join(sharedDataDir, 'trec-dl20', 'retrieve_results_dl20.json'), 'place ../shared/data beside the repo');

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
