/** downloadModel: fetch a model into the cache ahead of time (what `crossrank download` runs). */
import { resolve } from 'node:path';

import { isHubId } from './cache.js';
import type { DownloadedModel } from './download.js';
import { HubError } from './errors.js';
import { checkHubOptions, type HubOptions } from './resolve.js';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken } from './settings.js';

export type DownloadModelOptions = Omit<HubOptions, 'localFilesOnly'>;

/**
 * Asks the hub which commit `revision` names now and downloads what is not
 * yet cached: the files a cross-encoder or a sentence encoder needs, whichever
 * the repository holds. Resolves to the snapshot folder and its commit.
 */
export async function downloadModel(id: string, options: DownloadModelOptions = {}): Promise<DownloadedModel> {
  if (typeof id !== 'string' || !isHubId(id)) {
    throw new TypeError(`crossrank: downloadModel(id): id must be a hub id such as org/name, got ${JSON.stringify(id)}`);
  }
  if (hubOffline()) {
    throw new HubError(`crossrank: ${id}: cannot download while HF_HUB_OFFLINE is set`, id, 'not-cached');
  }
  checkHubOptions(options);
  const { downloadModel: download } = await import('./download.js');
  return download({
    id,
    kind: 'sentence-encoder', // its files are a superset of a cross-encoder's
    revision: options.revision ?? 'main',
    cacheDir: resolve(options.cacheDir ?? hubCacheDir()),
    endpoint: hubEndpoint(),
    token: options.token ?? hubToken(),
    onProgress: options.onProgress,
  });
}
