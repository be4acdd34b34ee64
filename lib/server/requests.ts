/**
 * Request bodies of each endpoint, checked field by field. A wrong body is an
 * HttpError whose message names the field; unknown fields are ignored, as the
 * original servers (serde and pydantic models) ignore them.
 */
import { ACTIVATIONS, type Activation } from '../activation.js';

/** An answer other than 200, with a JSON body `{ error, error_type }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorType: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const invalid = (message: string): HttpError => new HttpError(400, message, 'validation');

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  return `${typeof value} ${String(value)}`;
}

function asObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid(`the request body must be a JSON object, got ${describe(body)}`);
  }
  return body as Record<string, unknown>;
}

function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (value === undefined) throw invalid(`missing field \`${field}\``);
  if (typeof value !== 'string') throw invalid(`\`${field}\` must be a string, got ${describe(value)}`);
  return value;
}

function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalid(`\`${field}\` must be a boolean, got ${describe(value)}`);
  return value;
}

function optionalPositiveInteger(body: Record<string, unknown>, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid(`\`${field}\` must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function array(body: Record<string, unknown>, field: string): unknown[] {
  const value = body[field];
  if (value === undefined) throw invalid(`missing field \`${field}\``);
  if (!Array.isArray(value)) throw invalid(`\`${field}\` must be an array, got ${describe(value)}`);
  return value;
}

/** Whether the body is a JSON object with `field` (which shape a shared route was sent). */
export function hasField(body: unknown, field: string): boolean {
  return body !== null && typeof body === 'object' && !Array.isArray(body) && Object.hasOwn(body, field);
}

/** TEI `POST /rerank`. */
export interface TeiRerankRequest {
  query: string;
  texts: string[];
  rawScores: boolean;
  returnText: boolean;
  /** undefined: the server's default (--no-auto-truncate turns it off). */
  truncate: boolean | undefined;
  /** Not TEI's, but LiteLLM's Hugging Face provider sends it: keep the best top_n. */
  topN: number | undefined;
}

export function parseTeiRerank(body: unknown): TeiRerankRequest {
  const object = asObject(body);
  const query = requiredString(object, 'query');
  const texts = array(object, 'texts').map((text, i) => {
    if (typeof text !== 'string') throw invalid(`\`texts[${i}]\` must be a string, got ${describe(text)}`);
    return text;
  });
  checkTruncationDirection(object);
  return {
    query,
    texts,
    rawScores: optionalBoolean(object, 'raw_scores') ?? false,
    returnText: optionalBoolean(object, 'return_text') ?? false,
    truncate: optionalBoolean(object, 'truncate'),
    topN: optionalPositiveInteger(object, 'top_n'),
  };
}

function checkTruncationDirection(object: Record<string, unknown>): void {
  const direction = object['truncation_direction'];
  if (direction !== undefined && direction !== null) {
    if (direction !== 'Right' && direction !== 'Left') {
      throw invalid(`\`truncation_direction\` must be "Right" or "Left", got ${JSON.stringify(direction)}`);
    }
    // The tokenizer trims pairs from the end only (Hugging Face longest_first).
    if (direction === 'Left') throw invalid('`truncation_direction` "Left" is not supported by this server; use "Right"');
  }
}

/**
 * Cohere v1 and Jina `POST /v1/rerank`, Cohere v2 `POST /v2/rerank`, and
 * Infinity `POST /rerank` with `documents`: one body shape with small differences.
 */
export interface CohereRerankRequest {
  model: string | undefined;
  query: string;
  documents: string[];
  topN: number | undefined;
  returnDocuments: boolean;
  /** Cohere v2's `max_tokens_per_doc`: checked here and passed on as the rank option `maxTokensPerDoc`. */
  maxTokensPerDoc: number | undefined;
}

export function parseCohereRerank(body: unknown): CohereRerankRequest {
  const object = asObject(body);
  const model = object['model'];
  if (model !== undefined && model !== null && typeof model !== 'string') {
    throw invalid(`\`model\` must be a string, got ${describe(model)}`);
  }
  const query = requiredString(object, 'query');
  // Both APIs take plain strings or objects with a `text` field.
  const documents = array(object, 'documents').map((document, i) => {
    if (typeof document === 'string') return document;
    if (document !== null && typeof document === 'object' && !Array.isArray(document)) {
      const text = (document as Record<string, unknown>)['text'];
      if (typeof text === 'string') return text;
      throw invalid(`\`documents[${i}].text\` must be a string, got ${text === undefined ? 'nothing' : describe(text)}`);
    }
    throw invalid(`\`documents[${i}]\` must be a string or an object with a \`text\` field, got ${describe(document)}`);
  });
  return {
    model: model ?? undefined,
    query,
    documents,
    topN: optionalPositiveInteger(object, 'top_n'),
    returnDocuments: optionalBoolean(object, 'return_documents') ?? false,
    maxTokensPerDoc: optionalPositiveInteger(object, 'max_tokens_per_doc'),
  };
}

/** TEI `POST /predict`: `inputs` is one [text, text] pair or a list of them. */
export interface TeiPredictRequest {
  pairs: [string, string][];
  /** Whether `inputs` was a list (the reply is then one list of labels per pair). */
  batch: boolean;
  rawScores: boolean;
  truncate: boolean | undefined;
}

export function parseTeiPredict(body: unknown): TeiPredictRequest {
  const object = asObject(body);
  const inputs = object['inputs'];
  const isPair = (value: unknown): value is [string, string] =>
    Array.isArray(value) && value.length === 2 && value.every((text) => typeof text === 'string');
  const single = (): HttpError =>
    invalid('`inputs` holds single texts: a cross-encoder scores pairs, so send [text, text] or a list of such pairs');
  if (inputs === undefined) throw invalid('missing field `inputs`');
  if (typeof inputs === 'string') throw single();
  if (!Array.isArray(inputs)) throw invalid(`\`inputs\` must be a [text, text] pair or a list of pairs, got ${describe(inputs)}`);
  // As TEI reads it: two strings are one pair; otherwise a list of pairs.
  const batch = !isPair(inputs);
  const pairs = batch
    ? inputs.map((pair, i): [string, string] => {
        if (typeof pair === 'string') throw single();
        if (!isPair(pair)) throw invalid(`\`inputs[${i}]\` must be an array of two strings, got ${describe(pair)}`);
        return pair;
      })
    : [inputs];
  checkTruncationDirection(object);
  return { pairs, batch, rawScores: optionalBoolean(object, 'raw_scores') ?? false, truncate: optionalBoolean(object, 'truncate') };
}

/** crossrank's own `POST /predict`: raw pairs, any number of labels. */
export interface PredictRequest {
  pairs: [string, string][];
  activation: Activation | undefined;
  truncate: boolean | undefined;
}

export function parsePredict(body: unknown): PredictRequest {
  const object = asObject(body);
  const pairs = array(object, 'pairs').map((pair, i): [string, string] => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw invalid(`\`pairs[${i}]\` must be an array of two strings, got ${describe(pair)}`);
    }
    pair.forEach((text: unknown, j) => {
      if (typeof text !== 'string') throw invalid(`\`pairs[${i}][${j}]\` must be a string, got ${describe(text)}`);
    });
    return [pair[0] as string, pair[1] as string];
  });
  const activation = object['activation'];
  if (activation !== undefined && activation !== null && !ACTIVATIONS.includes(activation as Activation)) {
    throw invalid(`\`activation\` must be one of ${ACTIVATIONS.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(activation)}`);
  }
  return { pairs, activation: (activation ?? undefined) as Activation | undefined, truncate: optionalBoolean(object, 'truncate') };
}
