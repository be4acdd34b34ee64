/**
 * Downloads a model from the hub into the huggingface_hub cache (see
 * cache.ts for the layout). Loaded lazily by lib/hub/resolve.ts: loading a
 * folder or a cached model never imports this file.
 *
 * What it asks the hub, as huggingface_hub does:
 *   GET  {endpoint}/api/models/{id}/revision/{revision}  the commit and the file list
 *   HEAD {endpoint}/{id}/resolve/{commit}/{file}          etag, size, and where the bytes are
 *        (large files answer 302 to a CDN with X-Linked-Etag / X-Linked-Size)
 *   GET  the file's location, with Range to resume an .incomplete file
 * Each file goes to blobs/<etag>.incomplete, is checked against the etag
 * (sha256 for LFS files, the git blob sha1 for the others) and renamed into
 * place under a lock; the snapshot's links and refs/<revision> are written
 * only once every file is in, so a failed download never looks cached.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

import { COMMIT_HASH, type ModelKind, poolingConfigFiles, repoFolder, repoFolderName, SHARD_INDEX, shardFiles } from './cache.js';
import { HubError, type HubErrorReason } from './errors.js';
import { withFileLock } from './lock.js';

/** Progress of one file's download. */
export interface DownloadProgress {
  /** The hub id being downloaded. */
  modelId: string;
  /** The file, relative to the repository. */
  file: string;
  /** Bytes of this file on disk so far (a resumed file starts above 0). */
  loaded: number;
  /** The file's size, if the hub said. */
  total: number | undefined;
}

export interface DownloadRequest {
  id: string;
  kind: ModelKind;
  revision: string;
  cacheDir: string;
  endpoint: string;
  token: string | undefined;
  onProgress: ((progress: DownloadProgress) => void) | undefined;
}

export interface DownloadedModel {
  commit: string;
  dir: string;
  /** Files fetched from the hub by this call (the others were in the cache). */
  downloaded: string[];
}

/** Connection failures tolerated per file; each retry resumes where the last stopped. */
const MAX_ATTEMPTS = 5;
/** Optional files a model uses when the repository has them. */
const TOKENIZER_EXTRAS = ['tokenizer_config.json', 'special_tokens_map.json'];
const SENTENCE_FILES = ['modules.json', 'sentence_bert_config.json'];

interface FileMetadata {
  commit: string | undefined;
  etag: string;
  size: number | undefined;
  location: string;
}

class Hub {
  constructor(private readonly request: DownloadRequest) {}

  fail(message: string, reason: HubErrorReason, options: { status?: number; cause?: unknown } = {}): HubError {
    return new HubError(`crossrank: ${this.request.id}: ${message}`, this.request.id, reason, options);
  }

  headersFor(url: string, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': 'crossrank', ...extra };
    // The token goes to the hub only, never to the CDN a file redirects to.
    if (this.request.token !== undefined && new URL(url).origin === new URL(this.request.endpoint).origin) {
      headers['authorization'] = `Bearer ${this.request.token}`;
    }
    return headers;
  }

  async fetch(url: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
    try {
      return await fetch(url, { ...init, headers: this.headersFor(url, init.headers) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw this.fail(
        `cannot reach ${this.request.endpoint} (${cause?.code ?? cause?.message ?? (error as Error).message}); ` +
          'set HF_ENDPOINT for a mirror, or HF_HUB_OFFLINE=1 to use the cache only',
        'network',
        { cause: error },
      );
    }
  }

  /** Turns an error status into a HubError saying what the hub meant by it. */
  async check(response: Response, what: string): Promise<void> {
    if (response.ok || (response.status >= 300 && response.status < 400)) return;
    const status = response.status;
    const code = response.headers.get('x-error-code') ?? '';
    const hubMessage = (response.headers.get('x-error-message') ?? (await response.text().catch(() => ''))).slice(0, 300).trim();
    const detail = hubMessage ? ` (hub: ${hubMessage})` : '';
    const { id, revision } = this.request;
    if (code === 'RevisionNotFound') throw this.fail(`the hub has no revision ${JSON.stringify(revision)} of ${id} [HTTP ${status}]`, 'revision-not-found', { status });
    if (code === 'RepoNotFound' || (status === 404 && code === '' && what === 'the model info')) {
      throw this.fail(
        `the hub has no model ${id}, or it is private and ${this.request.token ? 'this token cannot see it' : 'no token was given (set HF_TOKEN or options.token)'} [HTTP ${status}]${detail}`,
        'repo-not-found',
        { status },
      );
    }
    if (status === 401 || status === 403 || code === 'GatedRepo') {
      throw this.fail(
        `access to ${what} is refused [HTTP ${status}]: the model is gated or private. ` +
          (this.request.token
            ? 'The token given has no access: accept the model\'s conditions on its page with this account, or use another token'
            : 'Pass a token with access (HF_TOKEN, the file `hf auth login` writes, or options.token)') +
          detail,
        'unauthorized',
        { status },
      );
    }
    if (status === 404) throw this.fail(`${what} is not on the hub at revision ${revision} [HTTP 404]${detail}`, 'server', { status });
    throw this.fail(`the hub answered HTTP ${status} for ${what}${detail}`, 'server', { status });
  }

  async modelInfo(): Promise<{ commit: string; files: Set<string> }> {
    const { endpoint, id, revision } = this.request;
    const url = `${endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}`;
    const response = await this.fetch(url, { headers: { accept: 'application/json' } });
    await this.check(response, 'the model info');
    let info: { sha?: unknown; siblings?: unknown };
    try {
      info = (await response.json()) as typeof info;
    } catch (error) {
      throw this.fail(`${url} did not answer JSON`, 'server', { cause: error });
    }
    const siblings = Array.isArray(info.siblings) ? info.siblings : undefined;
    if (typeof info.sha !== 'string' || !COMMIT_HASH.test(info.sha) || siblings === undefined) {
      throw this.fail(`${url} did not say the commit (sha) and the files (siblings)`, 'server');
    }
    const files = new Set<string>();
    for (const sibling of siblings) {
      const name = (sibling as { rfilename?: unknown } | null)?.rfilename;
      if (typeof name === 'string') files.add(name);
    }
    return { commit: info.sha, files };
  }

  /** HEAD of a file at a commit, following the hub's own (relative) redirects but not the CDN's. */
  async metadata(commit: string, file: string): Promise<FileMetadata> {
    const { endpoint, id } = this.request;
    let url = `${endpoint}/${id}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
    for (let hops = 0; ; hops++) {
      const response = await this.fetch(url, { method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity' } });
      await this.check(response, file);
      const location = response.headers.get('location');
      const isRedirect = response.status >= 300 && response.status < 400;
      if (isRedirect && location === null) throw this.fail(`HEAD ${url} redirected with no Location`, 'server');
      const target = location === null ? url : new URL(location, url).toString();
      // Redirects within the hub (a renamed repository) are followed, as huggingface_hub does; one to
      // another host (the CDN holding large files) is where the bytes are, and its headers are the metadata.
      if (isRedirect && new URL(target).origin === new URL(url).origin) {
        if (hops >= 5) throw this.fail(`HEAD ${url}: too many redirects`, 'server');
        url = target;
        continue;
      }
      const etag = normaliseEtag(response.headers.get('x-linked-etag') ?? response.headers.get('etag'));
      if (etag === undefined) throw this.fail(`the hub gave no etag for ${file}, so it cannot be checked or cached`, 'server');
      const sizeHeader = response.headers.get('x-linked-size') ?? (isRedirect ? null : response.headers.get('content-length'));
      return {
        commit: response.headers.get('x-repo-commit') ?? undefined,
        etag,
        size: sizeHeader === null ? undefined : Number(sizeHeader),
        location: target,
      };
    }
  }

  /** Gets the file into blobs/<etag> (resuming an .incomplete one), checked, or throws and leaves no blob. */
  async fetchBlob(file: string, meta: FileMetadata, blobPath: string): Promise<void> {
    const partial = `${blobPath}.incomplete`;
    const { onProgress, id } = this.request;
    for (let attempt = 1; ; attempt++) {
      const have = await stat(partial).then((s) => s.size, () => 0);
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      if (have > 0) headers['range'] = `bytes=${have}-`;
      const response = await this.fetch(meta.location, { headers });
      if (response.status === 416 && have > 0) {
        // The partial file is as long as (or longer than) the file: let the checksum decide.
        await response.body?.cancel();
        break;
      }
      await this.check(response, file);
      const resumed = response.status === 206;
      const handle = await open(partial, resumed ? 'a' : 'w');
      let loaded = resumed ? have : 0;
      onProgress?.({ modelId: id, file, loaded, total: meta.size });
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          await handle.write(chunk);
          loaded += chunk.length;
          onProgress?.({ modelId: id, file, loaded, total: meta.size });
        }
        await handle.close();
        break;
      } catch (error) {
        await handle.close();
        if (attempt >= MAX_ATTEMPTS) {
          throw this.fail(`the connection broke ${attempt} times while downloading ${file}; run again to resume it`, 'network', {
            cause: error,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
    const problem = await checkBlob(partial, meta);
    if (problem !== undefined) {
      await rm(partial, { force: true });
      throw this.fail(`${file} failed its checksum (${problem}); nothing was kept, so the next load downloads it again`, 'checksum');
    }
    await rename(partial, blobPath);
  }
}

/** Strips the quotes and weak marker of an ETag header: "abc" and W/"abc" are both abc. */
function normaliseEtag(header: string | null): string | undefined {
  if (header === null) return undefined;
  const etag = header.replace(/^W\//, '').replace(/^"|"$/g, '');
  return etag === '' ? undefined : etag;
}

/** Checks a downloaded file against its etag; returns what is wrong, or undefined. */
async function checkBlob(path: string, meta: FileMetadata): Promise<string | undefined> {
  const { size } = await stat(path);
  if (meta.size !== undefined && size !== meta.size) return `${size} bytes, the hub said ${meta.size}`;
  let hash;
  if (/^[0-9a-f]{64}$/.test(meta.etag)) {
    hash = createHash('sha256'); // LFS files: the etag is the sha256 of the contents
  } else if (/^[0-9a-f]{40}$/.test(meta.etag)) {
    hash = createHash('sha1').update(`blob ${size}\0`); // git files: the etag is the git blob id
  } else {
    return undefined; // an etag of another kind (e.g. a mirror's): the size is all we can check
  }
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  return digest === meta.etag ? undefined : `its hash is ${digest}, the hub's etag ${meta.etag}`;
}

/** Which files of the repository to download, or why there are none crossrank can use. */
function filesToDownload(hub: Hub, kind: ModelKind, files: Set<string>): string[] {
  if (!files.has('config.json')) throw hub.fail('the repository has no config.json, so it is not a transformers model', 'unsupported');
  const sharded = !files.has('model.safetensors') && files.has(SHARD_INDEX);
  if (!files.has('model.safetensors') && !sharded) {
    const pickled = [...files].filter((f) => /\.(bin|pt|pth|ckpt)$/.test(f));
    throw hub.fail(
      `the repository has no model.safetensors${pickled.length > 0 ? ` (only ${pickled.join(', ')})` : ''}, and nothing was downloaded. ` +
        'crossrank never unpickles PyTorch files: they can run code when loaded. Ask the model\'s authors for a ' +
        'safetensors conversion (many repositories have one on a refs/pr/N revision: try --revision refs/pr/1), or ' +
        'convert it yourself with transformers: AutoModelForSequenceClassification.from_pretrained(id).save_pretrained(dir)',
      'unsupported',
    );
  }
  const tokenizer = files.has('tokenizer.json') ? 'tokenizer.json' : files.has('vocab.txt') ? 'vocab.txt' : undefined;
  if (tokenizer === undefined) throw hub.fail('the repository has neither tokenizer.json nor vocab.txt', 'unsupported');
  // The weights first: if they fail, nothing else has been written. A sharded
  // checkpoint's shards follow its index (download() reads it for their names).
  const wanted = [sharded ? SHARD_INDEX : 'model.safetensors', 'config.json', tokenizer, ...TOKENIZER_EXTRAS];
  if (kind === 'sentence-encoder') wanted.push(...SENTENCE_FILES);
  return wanted.filter((file) => files.has(file));
}

/** Makes snapshots/<commit>/<file> a relative link to the blob, replacing what was there in one step. */
async function linkIntoSnapshot(snapshotDir: string, file: string, blobPath: string): Promise<void> {
  const pointer = join(snapshotDir, file);
  await mkdir(dirname(pointer), { recursive: true });
  const temporary = `${pointer}.${process.pid}.link`;
  await rm(temporary, { force: true });
  await symlink(relative(dirname(pointer), blobPath), temporary);
  await rename(temporary, pointer);
}

const inFlight = new Map<string, Promise<DownloadedModel>>();

/**
 * Downloads what the model needs into the cache and returns its snapshot
 * folder. Calls in this process for the same model share one download.
 */
export function downloadModel(request: DownloadRequest): Promise<DownloadedModel> {
  const key = JSON.stringify([request.cacheDir, request.id, request.revision, request.kind]);
  let running = inFlight.get(key);
  if (running === undefined) {
    running = download(request).finally(() => inFlight.delete(key));
    inFlight.set(key, running);
  }
  return running;
}

async function download(request: DownloadRequest): Promise<DownloadedModel> {
  const hub = new Hub(request);
  const { commit, files } = await hub.modelInfo();
  const wanted = filesToDownload(hub, request.kind, files);
  const repoDir = repoFolder(request.cacheDir, request.id);
  const snapshotDir = join(repoDir, 'snapshots', commit);
  const locksDir = join(request.cacheDir, '.locks', repoFolderName(request.id));
  const downloaded: string[] = [];
  const blobs = new Map<string, string>();

  const fetchFile = async (file: string): Promise<void> => {
    const meta = await hub.metadata(commit, file);
    if (meta.commit !== undefined && meta.commit !== commit) {
      throw hub.fail(`the hub served ${file} from commit ${meta.commit}, not ${commit} which it named first`, 'server');
    }
    const blobPath = join(repoDir, 'blobs', meta.etag);
    blobs.set(file, blobPath);
    if (await exists(blobPath)) return;
    await mkdir(dirname(blobPath), { recursive: true });
    await mkdir(locksDir, { recursive: true });
    // huggingface_hub's own lock is <etag>.lock (an flock); this one is separate so neither mistakes the other's.
    await withFileLock(join(locksDir, `${meta.etag}.crossrank-lock`), async () => {
      if (await exists(blobPath)) return; // another process fetched it while we waited
      await hub.fetchBlob(file, meta, blobPath);
      downloaded.push(file);
    });
  };

  for (const file of wanted) {
    await fetchFile(file);
    if (file === SHARD_INDEX) {
      const shards = shardFiles(await readFile(blobs.get(SHARD_INDEX)!, 'utf8'));
      if (shards === undefined) {
        throw hub.fail(`${SHARD_INDEX} is not a weight_map of tensor names to shard files beside it`, 'unsupported');
      }
      const absent = shards.filter((shard) => !files.has(shard));
      if (absent.length > 0) throw hub.fail(`${SHARD_INDEX} names ${absent.join(', ')}, which the repository does not have`, 'unsupported');
      for (const shard of shards) await fetchFile(shard);
    }
  }
  if (request.kind === 'sentence-encoder' && blobs.has('modules.json')) {
    const poolingFiles = poolingConfigFiles(await readFile(blobs.get('modules.json')!, 'utf8'));
    for (const file of poolingFiles) {
      if (!files.has(file)) throw hub.fail(`modules.json names ${file}, which the repository does not have`, 'unsupported');
      await fetchFile(file);
    }
  }

  for (const [file, blobPath] of blobs) await linkIntoSnapshot(snapshotDir, file, blobPath);
  if (request.revision !== commit) {
    const ref = join(repoDir, 'refs', request.revision);
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(`${ref}.${process.pid}.tmp`, commit);
    await rename(`${ref}.${process.pid}.tmp`, ref);
  }
  return { commit, dir: snapshotDir, downloaded };
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
