import { CrossrankError } from '../errors.js';

/** Why a model could not be had from the hub or its cache. */
export type HubErrorReason =
  /** Not in the cache, and the network may not be used (HF_HUB_OFFLINE, localFilesOnly). */
  | 'not-cached'
  /** No such repository (or a private one this token cannot see). */
  | 'repo-not-found'
  /** The repository has no such branch, tag or commit. */
  | 'revision-not-found'
  /** A gated or private repository: 401 or 403. */
  | 'unauthorized'
  /** The repository holds nothing crossrank can load (e.g. only pytorch_model.bin). */
  | 'unsupported'
  /** A file's contents did not match the hub's checksum. */
  | 'checksum'
  /** The hub answered with an error status or an answer crossrank cannot use. */
  | 'server'
  /** The hub could not be reached, or the connection broke too often. */
  | 'network';

/** A model id that could not be resolved to a folder: `reason` says why, `status` is the HTTP status if any. */
export class HubError extends CrossrankError {
  readonly modelId: string;
  readonly reason: HubErrorReason;
  readonly status: number | undefined;

  constructor(message: string, modelId: string, reason: HubErrorReason, options: { status?: number; cause?: unknown } = {}) {
    super(message, 'CROSSRANK_HUB', { cause: options.cause });
    this.modelId = modelId;
    this.reason = reason;
    this.status = options.status;
  }
}

/** A synchronous method or `config` was used on a model whose download has not finished: await `model.ready` first. */
export class ModelNotReadyError extends CrossrankError {
  readonly modelId: string;

  constructor(modelId: string) {
    super(
      `crossrank: ${modelId} is still downloading; await model.ready (or an async method such as predict) before using it synchronously`,
      'CROSSRANK_DOWNLOADING',
    );
    this.modelId = modelId;
  }
}
