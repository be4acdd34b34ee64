/** Checks on arguments and options shared by the public classes; messages name the argument. */

export function checkOptionsObject(options: unknown, what: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`crossrank: ${what} must be an object, got ${describe(options)}`);
  }
}

export function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`crossrank: ${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new RangeError(`crossrank: ${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function optionalSignal(value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError(`crossrank: options.signal must be an AbortSignal, got ${describe(value)}`);
  }
  return value;
}

/** A string option that must be one of `choices`. */
export function oneOf<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    const listed = choices.map((c) => `'${c}'`).join(', ');
    const error = typeof value === 'string' ? RangeError : TypeError;
    throw new error(`crossrank: ${name} must be one of ${listed}, got ${describe(value)}`);
  }
  return value as T;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
