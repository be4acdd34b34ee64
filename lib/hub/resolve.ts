/**
 * From what a user passes to load() to a model folder: a folder that exists
 * wins; else a hub id is looked up in the huggingface_hub cache (no network),
 * and only if it is not there is it downloaded, by download.ts, imported on
 * demand so that loading a folder or a cached model never loads it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { describe } from '../validation.js';
import { findCachedModel, isHubId, type ModelKind } from './cache.js';
import type { DownloadProgress } from './download.js';
import { HubError } from './errors.js';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken } from './settings.js';

export type { DownloadProgress } from './download.js';

/** The load options that concern models named by hub id. */
export interface HubOptions {
  /** Branch, tag or commit of the hub repository (default 'main'). */
  revision?: string;
  /** The huggingface_hub cache to use (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Use the cache only, as if HF_HUB_OFFLINE=1: an id that is not cached is an error. */
  localFilesOnly?: boolean;
  /** Hub access token for gated or private models (default: $HF_TOKEN, else the token file huggingface_hub writes). */
  token?: string;
  /** Called as each file of a download arrives. */
  onProgress?: (progress: DownloadProgress) => void;
}

export const HUB_OPTION_NAMES = ['revision', 'cacheDir', 'localFilesOnly', 'token', 'onProgress'] as const;

/** Where the model is: a folder to load now, or a download that will give one. */
export type ModelLocation =
  | { dir: string; modelId: string | undefined; commit: string | undefined; pending?: undefined }
  | { pending: Promise<{ dir: string; commit: string }>; modelId: string; dir?: undefined; commit?: undefined };

export function checkHubOptions(options: HubOptions): void {
  const { revision, cacheDir, localFilesOnly, token, onProgress } = options;
  if (revision !== undefined && (typeof revision !== 'string' || revision.trim() === '' || revision.includes('..'))) {
    throw new TypeError(`crossrank: options.revision must be a branch, tag or commit name, got ${describe(revision)}`);
  }
  if (cacheDir !== undefined && (typeof cacheDir !== 'string' || cacheDir === '')) {
    throw new TypeError(`crossrank: options.cacheDir must be a non-empty string, got ${describe(cacheDir)}`);
  }
  if (localFilesOnly !== undefined && typeof localFilesOnly !== 'boolean') {
    throw new TypeError(`crossrank: options.localFilesOnly must be a boolean, got ${describe(localFilesOnly)}`);
  }
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw new TypeError(`crossrank: options.token must be a non-empty string, got ${describe(token)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TypeError(`crossrank: options.onProgress must be a function, got ${describe(onProgress)}`);
  }
}

/**
 * Resolves `nameOrPath` to a folder now if it is one or is cached; else
 * starts the download (unless offline) and returns it pending.
 */
export function locateModel(nameOrPath: string, kind: ModelKind, options: HubOptions): ModelLocation {
  checkHubOptions(options);
  const asFolder = resolve(nameOrPath);
  if (existsSync(asFolder) || !isHubId(nameOrPath)) return { dir: asFolder, modelId: undefined, commit: undefined };

  const id = nameOrPath;
  const revision = options.revision ?? 'main';
  const cacheDir = resolve(options.cacheDir ?? hubCacheDir());
  const cached = findCachedModel(cacheDir, id, revision, kind);
  if (cached !== undefined && cached.missing.length === 0) return { dir: cached.dir, modelId: id, commit: cached.commit };

  const noFolder = `there is no folder ${asFolder}`;
  if (options.localFilesOnly || hubOffline()) {
    const why = options.localFilesOnly ? 'localFilesOnly is set' : 'HF_HUB_OFFLINE is set';
    const where =
      cached === undefined
        ? `is not in the cache ${cacheDir}`
        : `is in the cache ${cacheDir} without ${cached.missing.join(', ')}: only part of it was downloaded`;
    throw new HubError(
      `crossrank: ${id} (revision ${revision}) ${where}, ${noFolder}, and ${why}: ` +
        `download it first where the hub is reachable (crossrank download ${id}${revision === 'main' ? '' : ` --revision ${revision}`})`,
      id,
      'not-cached',
    );
  }
  const pending = import('./download.js')
    .then(({ downloadModel }) =>
      downloadModel({
        id,
        kind,
        revision,
        cacheDir,
        endpoint: hubEndpoint(),
        token: options.token ?? hubToken(),
        onProgress: options.onProgress,
      }),
    )
    .catch((error: unknown) => {
      if (error instanceof HubError && error.reason === 'repo-not-found') {
        throw new HubError(`${error.message}; and ${noFolder}`, id, error.reason, { status: error.status, cause: error.cause });
      }
      throw error;
    });
  return { pending, modelId: id };
}
