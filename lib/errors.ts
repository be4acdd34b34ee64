/**
 * Errors thrown by crossrank. Input mistakes are the standard TypeError and
 * RangeError (naming the argument at fault); everything else is a
 * CrossrankError subclass with a stable `code`.
 */

export class CrossrankError extends Error {
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
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
    super(message, 'CROSSRANK_MODEL', options);
    this.modelPath = modelPath;
  }
}

/** A method was called on a model after `dispose()`. */
export class DisposedError extends CrossrankError {
  constructor() {
    super('crossrank: this model has been disposed; load it again to use it', 'CROSSRANK_DISPOSED');
  }
}

/** The native parts of crossrank could not be loaded on this machine. */
export class NativeLoadError extends CrossrankError {
  constructor(message: string) {
    super(message, 'CROSSRANK_NATIVE');
  }
}
