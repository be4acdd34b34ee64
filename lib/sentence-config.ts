/**
 * The sentence-transformers files of a bi-encoder folder: modules.json (which
 * modules run, in order), the Pooling module's config.json and
 * sentence_bert_config.json. Only what crossrank can run exactly is accepted;
 * anything else is a ModelLoadError naming the file and the field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ModelLoadError } from './errors.js';
import type { Pooling } from './native.js';

const TRANSFORMER = 'sentence_transformers.models.Transformer';
const POOLING = 'sentence_transformers.models.Pooling';
const NORMALIZE = 'sentence_transformers.models.Normalize';

/** The pooling modes of sentence-transformers' Pooling config, and which crossrank runs. */
const POOLING_FIELDS: Record<string, Pooling | undefined> = {
  pooling_mode_cls_token: 'cls',
  pooling_mode_mean_tokens: 'mean',
  pooling_mode_max_tokens: undefined,
  pooling_mode_mean_sqrt_len_tokens: undefined,
  pooling_mode_weightedmean_tokens: undefined,
  pooling_mode_lasttoken: undefined,
};

export interface SentenceModules {
  pooling: Pooling;
  /** Whether modules.json ends with a Normalize module. */
  normalize: boolean;
  /** Longest tokenized text from sentence_bert_config.json's max_seq_length, if set. */
  maxSeqLength: number | undefined;
  /** sentence_bert_config.json's do_lower_case: texts are lower-cased before tokenizing. */
  doLowerCase: boolean;
  /** Where the pooling mode came from, for the config. */
  poolingSource: string;
}

/**
 * Reads a folder's sentence-transformers configuration. Without modules.json
 * the folder is a plain Hugging Face model and, as sentence-transformers does
 * then, texts are mean-pooled and not normalised.
 */
export function readSentenceModules(dir: string, hiddenSize: number): SentenceModules {
  const { maxSeqLength, doLowerCase } = readSentenceBertConfig(dir);
  const modulesPath = join(dir, 'modules.json');
  if (!existsSync(modulesPath)) {
    return { pooling: 'mean', normalize: false, maxSeqLength, doLowerCase, poolingSource: 'default (no modules.json)' };
  }
  const modules = readJsonFile(modulesPath, dir);
  if (!Array.isArray(modules)) fail(dir, modulesPath, undefined, 'expected an array of modules');

  let poolingPath: string | undefined;
  let normalize = false;
  modules.forEach((module: unknown, i: number) => {
    const field = `[${i}]`;
    if (module === null || typeof module !== 'object') fail(dir, modulesPath, field, 'expected an object');
    const { type, path } = module as { type?: unknown; path?: unknown };
    if (typeof type !== 'string') fail(dir, modulesPath, `${field}.type`, 'expected a string');
    const expected = i === 0 ? [TRANSFORMER] : [POOLING, NORMALIZE];
    if (!expected.includes(type) || (type === NORMALIZE && i !== modules.length - 1)) {
      fail(
        dir,
        modulesPath,
        `${field}.type`,
        `${JSON.stringify(type)} is not supported here; supported: ${TRANSFORMER} first, then ${POOLING}, ` +
          `then optionally ${NORMALIZE}`,
      );
    }
    if (type === TRANSFORMER && path !== '' && path !== undefined) {
      fail(dir, modulesPath, `${field}.path`, `${JSON.stringify(path)}: the transformer must be the folder itself ("")`);
    }
    if (type === POOLING) {
      if (poolingPath !== undefined) fail(dir, modulesPath, `${field}.type`, 'a second Pooling module is not supported');
      if (typeof path !== 'string') fail(dir, modulesPath, `${field}.path`, 'expected a string');
      poolingPath = path;
    }
    if (type === NORMALIZE) normalize = true;
  });
  if (poolingPath === undefined) fail(dir, modulesPath, undefined, `has no ${POOLING} module`);
  const pooling = readPoolingConfig(dir, join(dir, poolingPath, 'config.json'), hiddenSize);
  return { pooling, normalize, maxSeqLength, doLowerCase, poolingSource: join(poolingPath, 'config.json') };
}

function readPoolingConfig(dir: string, path: string, hiddenSize: number): Pooling {
  if (!existsSync(path)) fail(dir, path, undefined, 'is missing (modules.json lists the Pooling module here)');
  const config = readJsonFile(path, dir);
  if (config === null || typeof config !== 'object' || Array.isArray(config)) fail(dir, path, undefined, 'expected an object');
  const fields = config as Record<string, unknown>;

  const dimension = fields['word_embedding_dimension'];
  if (dimension !== undefined && dimension !== hiddenSize) {
    fail(dir, path, 'word_embedding_dimension', `${JSON.stringify(dimension)} differs from config.json's hidden_size ${hiddenSize}`);
  }
  // Newer sentence-transformers may also save the mode as one string.
  const named = fields['pooling_mode'];
  if (named !== undefined && named !== 'cls' && named !== 'mean') {
    fail(dir, path, 'pooling_mode', `${JSON.stringify(named)} is not supported; supported: "mean", "cls"`);
  }
  const chosen: Pooling[] = [];
  for (const [field, pooling] of Object.entries(POOLING_FIELDS)) {
    const value = fields[field];
    if (value === undefined || value === false) continue;
    if (value !== true) fail(dir, path, field, `expected true or false, found ${JSON.stringify(value)}`);
    if (pooling === undefined) {
      fail(dir, path, field, 'true is not supported; supported: pooling_mode_mean_tokens or pooling_mode_cls_token');
    }
    chosen.push(pooling);
  }
  if (chosen.length > 1) {
    fail(dir, path, 'pooling_mode_cls_token', 'and pooling_mode_mean_tokens are both true; crossrank supports one pooling mode');
  }
  const pooling = chosen[0] ?? (named as Pooling | undefined);
  if (pooling === undefined) {
    fail(dir, path, 'pooling_mode_mean_tokens', 'missing (no pooling mode is true; set pooling_mode_mean_tokens or pooling_mode_cls_token)');
  }
  if (named !== undefined && named !== pooling) {
    fail(dir, path, 'pooling_mode', `${JSON.stringify(named)} contradicts the pooling_mode_* fields`);
  }
  return pooling;
}

function readSentenceBertConfig(dir: string): { maxSeqLength: number | undefined; doLowerCase: boolean } {
  const path = join(dir, 'sentence_bert_config.json');
  if (!existsSync(path)) return { maxSeqLength: undefined, doLowerCase: false };
  const config = readJsonFile(path, dir);
  if (config === null || typeof config !== 'object' || Array.isArray(config)) fail(dir, path, undefined, 'expected an object');
  const { max_seq_length: maxSeqLength, do_lower_case: doLowerCase } = config as Record<string, unknown>;
  if (maxSeqLength !== undefined && maxSeqLength !== null && (!Number.isInteger(maxSeqLength) || (maxSeqLength as number) < 4)) {
    fail(dir, path, 'max_seq_length', `expected an integer >= 4, found ${JSON.stringify(maxSeqLength)}`);
  }
  if (doLowerCase !== undefined && typeof doLowerCase !== 'boolean') {
    fail(dir, path, 'do_lower_case', `expected true or false, found ${JSON.stringify(doLowerCase)}`);
  }
  return { maxSeqLength: (maxSeqLength as number | null | undefined) ?? undefined, doLowerCase: doLowerCase === true };
}

function readJsonFile(path: string, dir: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`crossrank: ${path}: ${(error as Error).message}`, dir, { cause: error });
  }
}

function fail(dir: string, path: string, field: string | undefined, what: string): never {
  throw new ModelLoadError(`crossrank: ${path}: ${field === undefined ? '' : `${field}: `}${what}`, dir);
}
