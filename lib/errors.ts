/**
 * Errors thrown by crossrank. Input mistakes are the standard TypeError and
 * RangeError (naming the argument at fault); everything else is a
 * CrossrankError subclass with a stable `code` from the one list the native
 * parts share (native/error-codes.json, read here through error-codes.ts).
 * `fromNative` is the one place a native error becomes one of these classes.
 */
import { ERROR_CODES, type ErrorCode } from './error-codes.js';

export { ERROR_CODES, type ErrorCode } from './error-codes.js';

export class CrossrankError extends Error {
  readonly code: string;

  constructor(message: string, code: ErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A model folder that cannot be used: missing, unreadable, malformed or unsupported. */
export class ModelLoadError extends CrossrankError {
  /** The model folder that was being loaded. */
  readonly modelPath: string;

  constructor(message: string, modelPath: string, options?: { cause?: unknown }) {
    super(message, ERROR_CODES.model, options);
    this.modelPath = modelPath;
  }
}

/** A method was called on a model after `dispose()`. */
export class DisposedError extends CrossrankError {
  constructor() {
    super('crossrank: this model has been disposed; load it again to use it', ERROR_CODES.disposed);
  }
}

/** The native parts of crossrank could not be loaded on this machine. */
export class NativeLoadError extends CrossrankError {
  constructor(message: string) {
    super(message, ERROR_CODES.native);
  }
}

/** What a native call was about, for `fromNative`. */
export interface NativeCallContext {
  /** The model folder: an error coded CROSSRANK_MODEL becomes a ModelLoadError naming it. */
  modelPath?: string;
  /** While loading, any failure but a TypeError or RangeError is the folder's: a ModelLoadError. */
  loading?: boolean;
  /** Said before the native message, e.g. 'cannot load the tokenizer of DIR'. */
  context?: string;
}

/**
 * An error of the engine addon or the tokenizer as crossrank's class for its
 * code (native/error-codes.json); any other error as it is.
 */
export function fromNative(error: unknown, call: NativeCallContext = {}): unknown {
  if (error instanceof CrossrankError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === ERROR_CODES.disposed) return new DisposedError();
  const { modelPath } = call;
  if (modelPath === undefined) return error;
  const isModelError =
    code === ERROR_CODES.model || (call.loading === true && !(error instanceof TypeError || error instanceof RangeError));
  if (!isModelError) return error;
  const message = (error as Error | null)?.message ?? String(error);
  const said = call.context === undefined ? message.replace(/^crossrank: /, '') : `${call.context}: ${message}`;
  return new ModelLoadError(`crossrank: ${said}`, modelPath, { cause: error });
}
