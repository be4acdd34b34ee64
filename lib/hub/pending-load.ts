/**
 * A model's native parts, present now or after a download. load() stays
 * synchronous: for an id that must first be downloaded it returns a model
 * whose async methods wait for this, whose sync ones throw ModelNotReadyError,
 * and whose `ready` promise settles when the download and load are done.
 */
import { ModelNotReadyError } from './errors.js';

export class PendingLoad<T> {
  #value: T | undefined;
  #failed = false;
  #error: unknown;
  readonly #settled: Promise<void> | undefined;
  readonly #modelId: string;

  private constructor(modelId: string, value: T | undefined, promise: Promise<T> | undefined) {
    this.#modelId = modelId;
    this.#value = value;
    // Never rejects, so an error nobody asked about is not an unhandled rejection: each later call reports it.
    this.#settled = promise?.then(
      (loaded) => {
        this.#value = loaded;
      },
      (error: unknown) => {
        this.#failed = true;
        this.#error = error;
      },
    );
  }

  static loaded<T>(value: T): PendingLoad<T> {
    return new PendingLoad('', value, undefined);
  }

  static later<T>(modelId: string, promise: Promise<T>): PendingLoad<T> {
    return new PendingLoad<T>(modelId, undefined, promise);
  }

  /** Whether the parts are still on their way. */
  get loading(): boolean {
    return this.#value === undefined && !this.#failed;
  }

  /** Whether the parts are here. */
  get loaded(): boolean {
    return this.#value !== undefined;
  }

  /** The parts; throws the load's error, or ModelNotReadyError while loading. */
  get value(): T {
    if (this.#failed) throw this.#error;
    if (this.#value === undefined) throw new ModelNotReadyError(this.#modelId);
    return this.#value;
  }

  /** Resolves once loaded; rejects with the load's error. */
  async ready(): Promise<T> {
    await this.#settled;
    return this.value;
  }
}
