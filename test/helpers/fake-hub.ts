/**
 * A stand-in for the Hugging Face hub on 127.0.0.1, serving what crossrank's
 * downloader and Python's huggingface_hub ask for:
 *   GET  /api/models/{id}/revision/{revision}    {"id", "sha", "siblings": [{"rfilename"}]}
 *   GET  /api/models/{id}/tree/{revision}        the file list (huggingface_hub's snapshot_download)
 *   HEAD|GET /{id}/resolve/{revision}/{file}     small files: 200 with ETag = the git blob sha1;
 *        *.safetensors / *.bin (LFS): 302 to a second server (the "CDN", another origin) with
 *        X-Linked-Etag = sha256 and X-Linked-Size; always X-Repo-Commit
 *   GET  /{sha256} on the CDN                    the bytes, with Range
 * Errors as the hub sends them: X-Error-Code RepoNotFound / RevisionNotFound /
 * EntryNotFound / GatedRepo. Faults for tests: an error status per path, a
 * connection cut after N bytes, corrupted bytes, a slowed CDN.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface FakeRepoSpec {
  /** commit hash -> files (path -> contents). */
  commits: Record<string, Record<string, Buffer>>;
  /** branch or tag -> commit hash. */
  refs: Record<string, string>;
  /** Gated: resolve answers 401 without a token and 403 with another one than this. */
  token?: string;
}

export interface RequestLog {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

export interface Faults {
  /** Answer this status for requests whose path matches. */
  status?: { match: RegExp; status: number; times?: number };
  /** Cut the connection after this many bytes of a CDN body, `times` times. */
  cut?: { match: RegExp; afterBytes: number; times: number };
  /** Flip a byte in what the CDN sends for matching files. */
  corrupt?: RegExp;
  /** Send CDN bodies in 64 KiB pieces this many ms apart. */
  slowMs?: number;
}

const isLfs = (file: string): boolean => /\.(safetensors|bin)$/.test(file);
export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
export const gitBlobSha1 = (data: Buffer): string => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

/** A commit hash made from a label, so tests can name commits. */
export const commitOf = (label: string): string => createHash('sha1').update(label).digest('hex');

/** The files of a model folder, as a commit's contents. */
export function folderFiles(dir: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const name of readdirSync(dir)) if (name !== 'README.md') files[name] = readFileSync(join(dir, name));
  return files;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

export class FakeHub {
  readonly requests: RequestLog[] = [];
  faults: Faults = {};
  url = '';
  #cdnUrl = '';
  readonly #blobs = new Map<string, Buffer>();
  readonly #hub: Server;
  readonly #cdn: Server;

  private constructor(readonly repos: Record<string, FakeRepoSpec>) {
    for (const repo of Object.values(repos)) {
      for (const files of Object.values(repo.commits)) for (const data of Object.values(files)) this.#blobs.set(sha256(data), data);
    }
    this.#hub = createServer((req, res) => this.#answerHub(req, res));
    this.#cdn = createServer((req, res) => this.#answerCdn(req, res));
  }

  static async start(repos: Record<string, FakeRepoSpec>): Promise<FakeHub> {
    const hub = new FakeHub(repos);
    [hub.url, hub.#cdnUrl] = await Promise.all([listen(hub.#hub), listen(hub.#cdn)]);
    return hub;
  }

  /** GETs of file bytes from the CDN for paths ending in `file`'s sha256. */
  cdnGets(data: Buffer): RequestLog[] {
    return this.requests.filter((r) => r.server === 'cdn' && r.method === 'GET' && r.path === `/${sha256(data)}`);
  }

  async stop(): Promise<void> {
    for (const server of [this.#hub, this.#cdn]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  #log(server: 'hub' | 'cdn', req: IncomingMessage): string {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    this.requests.push({ server, method: req.method!, path, range: req.headers.range, authorization: req.headers.authorization });
    return path;
  }

  /** The fault status for this path, if one is set and not used up. */
  #faultStatus(path: string): number | undefined {
    const fault = this.faults.status;
    if (fault === undefined || !fault.match.test(path)) return undefined;
    if (fault.times !== undefined) {
      if (fault.times <= 0) return undefined;
      fault.times--;
    }
    return fault.status;
  }

  #error(res: ServerResponse, status: number, code: string | undefined, message: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...(code ? { 'x-error-code': code } : {}), 'x-error-message': message, ...headers });
    res.end(JSON.stringify({ error: message }));
  }

  #answerHub(req: IncomingMessage, res: ServerResponse): void {
    const path = this.#log('hub', req);
    const faulted = this.#faultStatus(path);
    if (faulted !== undefined) return this.#error(res, faulted, undefined, `fault injected: ${faulted}`);

    const api = /^\/api\/models\/(.+)\/(revision|tree)\/(.+?)$/.exec(path);
    const resolve = /^\/(.+?\/.+?|[^/]+)\/resolve\/([^/]+|refs\/pr\/\d+)\/(.+)$/.exec(path);
    const [id, revision] = api ? [api[1]!, api[3]!] : resolve ? [resolve[1]!, resolve[2]!] : [undefined, undefined];
    if (id === undefined) return this.#error(res, 404, undefined, `no route ${path}`);
    const repo = this.repos[id];
    if (repo === undefined) return this.#error(res, 401, 'RepoNotFound', `Repository Not Found for url: ${path}`);
    const commit = repo.refs[revision!] ?? (repo.commits[revision!] ? revision! : undefined);
    if (commit === undefined) return this.#error(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    const files = repo.commits[commit]!;

    if (api) {
      const body =
        api[2] === 'revision'
          ? { id, modelId: id, sha: commit, private: false, gated: repo.token ? 'manual' : false, siblings: Object.keys(files).map((rfilename) => ({ rfilename })) }
          : Object.entries(files).map(([file, data]) => ({
              type: 'file',
              oid: gitBlobSha1(data),
              size: data.length,
              path: file,
              ...(isLfs(file) ? { lfs: { oid: sha256(data), size: data.length, pointerSize: 134 } } : {}),
            }));
      res.writeHead(200, { 'content-type': 'application/json', 'x-repo-commit': commit });
      return void res.end(JSON.stringify(body));
    }

    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      const status = req.headers.authorization === undefined ? 401 : 403;
      return this.#error(res, status, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated.`, {
        'x-repo-commit': commit,
      });
    }
    const file = resolve![3]!;
    const data = files[file];
    if (data === undefined) return this.#error(res, 404, 'EntryNotFound', `${file} does not exist on "${revision}"`, { 'x-repo-commit': commit });
    if (isLfs(file)) {
      res.writeHead(302, {
        location: `${this.#cdnUrl}/${sha256(data)}`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${sha256(data)}"`,
        'x-linked-size': String(data.length),
        etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\nsize ${data.length}\n`))}"`,
      });
      return void res.end();
    }
    res.writeHead(200, { 'content-length': data.length, etag: `"${gitBlobSha1(data)}"`, 'x-repo-commit': commit, 'content-type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  #answerCdn(req: IncomingMessage, res: ServerResponse): void {
    const path = this.#log('cdn', req);
    const faulted = this.#faultStatus(path);
    if (faulted !== undefined) return this.#error(res, faulted, undefined, `fault injected: ${faulted}`);
    const original = this.#blobs.get(path.slice(1));
    if (original === undefined) return this.#error(res, 404, undefined, 'no such blob');
    let data = original;
    if (this.faults.corrupt?.test(path)) {
      data = Buffer.from(original);
      data[data.length >> 1]! ^= 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        return void res.end();
      }
      res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
    } else {
      res.writeHead(200, { 'content-length': data.length, 'accept-ranges': 'bytes' });
    }
    if (req.method === 'HEAD') return void res.end();
    const body = data.subarray(start);
    const cut = this.faults.cut;
    if (cut !== undefined && cut.times > 0 && cut.match.test(path) && body.length > cut.afterBytes) {
      cut.times--;
      // Send part of the body, then drop the connection as a broken network would.
      res.write(body.subarray(0, cut.afterBytes), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    const slowMs = this.faults.slowMs;
    if (!slowMs) return void res.end(body);
    let offset = 0;
    const next = (): void => {
      if (res.destroyed) return;
      const piece = body.subarray(offset, offset + 65536);
      offset += piece.length;
      if (offset >= body.length) res.end(piece);
      else res.write(piece, () => setTimeout(next, slowMs));
    };
    next();
  }
}

/**
 * A model's files as a sentence-transformers repository: modules.json naming a Transformer and a
 * Pooling module in 1_Pooling/ (CLS or mean pooling), and sentence_bert_config.json.
 */
export function sentenceRepoFiles(files: Record<string, Buffer>, pooling: 'cls' | 'mean', hiddenSize: number): Record<string, Buffer> {
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  return {
    ...files,
    'modules.json': json([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]),
    '1_Pooling/config.json': json({ word_embedding_dimension: hiddenSize, [pooling === 'cls' ? 'pooling_mode_cls_token' : 'pooling_mode_mean_tokens']: true }),
    'sentence_bert_config.json': json({ max_seq_length: 32, do_lower_case: false }),
  };
}
