/**
 * The model cache Python's huggingface_hub writes and reads:
 *   <cache>/models--org--name/blobs/<etag>                    file contents, named by the hub's etag
 *   <cache>/models--org--name/snapshots/<commit>/<file>       relative symlinks into blobs/
 *   <cache>/models--org--name/refs/<branch or tag>            the commit it last resolved to
 * This module only reads it, synchronously and without the network, so that a
 * cached model loads as fast as a folder. Writing it is download.ts's job.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A full commit hash: a revision that never moves. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** Which files a model needs depends on how it is used. */
export type ModelKind = 'cross-encoder' | 'sentence-encoder';

/**
 * A hub id as the hub spells them: `org/name` or a bare `name`, each part
 * letters, digits, '-', '_' and '.', no '--' or '..'. Anything else (an
 * absolute path, './x', 'a/b/c') can only be a folder.
 */
export function isHubId(text: string): boolean {
  return /^[A-Za-z0-9][\w.-]{0,95}(\/[A-Za-z0-9][\w.-]{0,95})?$/.test(text) && !/--|\.\.|[.-]$/.test(text);
}

/** models--org--name: the repository's folder in the cache. */
export function repoFolderName(id: string): string {
  return `models--${id.split('/').join('--')}`;
}

export function repoFolder(cacheDir: string, id: string): string {
  return join(cacheDir, repoFolderName(id));
}

/** The commit a revision names in this cache: itself if it is a commit hash, else what refs/<revision> holds. */
export function cachedCommit(cacheDir: string, id: string, revision: string): string | undefined {
  if (COMMIT_HASH.test(revision)) return revision;
  try {
    const commit = readFileSync(join(repoFolder(cacheDir, id), 'refs', revision), 'utf8').trim();
    return COMMIT_HASH.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The files of a snapshot a model of this kind cannot load without, given the
 * files present: config.json, model.safetensors (or the index of a sharded
 * checkpoint and every shard it names), and tokenizer.json or vocab.txt; for a
 * sentence encoder with modules.json, its Pooling config. Empty when the
 * snapshot is complete.
 */
export function missingModelFiles(has: (file: string) => boolean, readText: (file: string) => string, kind: ModelKind): string[] {
  const missing: string[] = [];
  if (!has('config.json')) missing.push('config.json');
  if (!has('model.safetensors')) {
    if (has(SHARD_INDEX)) {
      // A malformed index is the engine's to report, with the file named.
      for (const shard of shardFiles(readText(SHARD_INDEX)) ?? []) if (!has(shard)) missing.push(shard);
    } else {
      missing.push('model.safetensors');
    }
  }
  if (!has('tokenizer.json') && !has('vocab.txt')) missing.push('tokenizer.json or vocab.txt');
  if (kind === 'sentence-encoder' && has('modules.json')) {
    for (const file of poolingConfigFiles(readText('modules.json'))) if (!has(file)) missing.push(file);
  }
  return missing;
}

/** The index transformers writes beside the shards of a checkpoint too large for one file. */
export const SHARD_INDEX = 'model.safetensors.index.json';

/**
 * The shard files a model.safetensors.index.json names, in the order it first
 * names them, or undefined when the index is not a weight_map of tensor names
 * to plain file names beside it (a shard path can never leave the folder).
 */
export function shardFiles(indexJson: string): string[] | undefined {
  let index: unknown;
  try {
    index = JSON.parse(indexJson);
  } catch {
    return undefined;
  }
  const weightMap = typeof index === 'object' && index !== null ? (index as { weight_map?: unknown }).weight_map : undefined;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) return undefined;
  const shards = new Set<string>();
  for (const shard of Object.values(weightMap)) {
    if (typeof shard !== 'string' || !/^[^/\\]+$/.test(shard) || shard === '.' || shard === '..') return undefined;
    shards.add(shard);
  }
  return shards.size > 0 ? [...shards] : undefined;
}

/** The Pooling modules' config files that modules.json names (it is checked properly at load). */
export function poolingConfigFiles(modulesJson: string): string[] {
  let modules: unknown;
  try {
    modules = JSON.parse(modulesJson);
  } catch {
    return [];
  }
  if (!Array.isArray(modules)) return [];
  return modules
    .filter(
      (m): m is { path: string; type: string } =>
        typeof m === 'object' && m !== null && typeof m.type === 'string' && m.type.endsWith('.Pooling') && typeof m.path === 'string',
    )
    .map((m) => (m.path === '' ? 'config.json' : `${m.path.replace(/\/+$/, '')}/config.json`))
    .filter((file) => file !== 'config.json');
}

export interface CachedSnapshot {
  commit: string;
  dir: string;
  /** The files the model needs that the snapshot lacks: it loads only when this is empty. */
  missing: string[];
}

/** The cached snapshot of `id` at `revision`, with what it lacks; undefined when the revision is not cached. */
export function findCachedModel(cacheDir: string, id: string, revision: string, kind: ModelKind): CachedSnapshot | undefined {
  const commit = cachedCommit(cacheDir, id, revision);
  if (commit === undefined) return undefined;
  const dir = join(repoFolder(cacheDir, id), 'snapshots', commit);
  // existsSync follows the symlinks: a link whose blob is gone counts as missing.
  const missing = missingModelFiles(
    (file) => existsSync(join(dir, file)),
    (file) => readFileSync(join(dir, file), 'utf8'),
    kind,
  );
  return { commit, dir, missing };
}
