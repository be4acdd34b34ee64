/**
 * Where the hub and its cache are, read from the environment the way Python's
 * huggingface_hub reads it, so that both use the same cache and settings.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** huggingface_hub's truthy spellings for boolean variables. */
function envFlag(name: string): boolean {
  return ['1', 'on', 'yes', 'true'].includes((process.env[name] ?? '').trim().toLowerCase());
}

function nonEmpty(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(): string {
  return nonEmpty('HF_HOME') ?? join(nonEmpty('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'huggingface');
}

/** $HF_HUB_CACHE, else the older $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub. */
export function hubCacheDir(): string {
  return nonEmpty('HF_HUB_CACHE') ?? nonEmpty('HUGGINGFACE_HUB_CACHE') ?? join(hfHome(), 'hub');
}

/** $HF_ENDPOINT (a mirror), without a trailing slash. */
export function hubEndpoint(): string {
  return (nonEmpty('HF_ENDPOINT') ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** HF_HUB_OFFLINE=1: never touch the network, use the cache only. */
export function hubOffline(): boolean {
  return envFlag('HF_HUB_OFFLINE');
}

/**
 * $HF_TOKEN (or the older $HUGGING_FACE_HUB_TOKEN), else the token file
 * `huggingface-cli login` writes: $HF_TOKEN_PATH, else $HF_HOME/token.
 */
export function hubToken(): string | undefined {
  const fromEnv = nonEmpty('HF_TOKEN') ?? nonEmpty('HUGGING_FACE_HUB_TOKEN');
  if (fromEnv !== undefined) return fromEnv.trim();
  const file = nonEmpty('HF_TOKEN_PATH') ?? join(hfHome(), 'token');
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}
