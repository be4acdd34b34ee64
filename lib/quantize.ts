/**
 * Writes a pre-quantised copy of a model folder (one model.safetensors, or a
 * sharded checkpoint's index and shards): model.safetensors with the
 * encoder's linear layers and word embeddings in int8 plus their F32 scales
 * (tensor names in the README), or with `{ dtype: 'bf16' }` the encoder's
 * linear layers in BF16 (rounded to nearest even), and the folder's other
 * files (config, tokenizer) copied as they are. The copy loads as that dtype.
 */
import { copyFileSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';

import { fromNative } from './errors.js';
import { modelFolder } from './model-folder.js';
import { engineAddon } from './native.js';

/** Weight files of other formats, which the quantised folder must not carry along. */
const WEIGHT_EXTENSIONS = new Set(['.safetensors', '.bin', '.pt', '.pth', '.onnx', '.h5', '.msgpack', '.ot']);
/** Shard indexes: the quantised copy is one model.safetensors, and an index would name shards it lacks. */
const isShardIndex = (name: string): boolean => /\.(safetensors|bin)\.index\.json$/.test(name);

export interface QuantizeOptions {
  /** 'int8' (default) or 'bf16'. */
  dtype?: 'int8' | 'bf16';
}

export function quantizeModel(modelDir: string, outDir: string, options: QuantizeOptions = {}): void {
  const dtype = options.dtype ?? 'int8';
  if (dtype !== 'int8' && dtype !== 'bf16') {
    throw new RangeError(`crossrank: quantizeModel: options.dtype must be 'int8' or 'bf16', got ${JSON.stringify(dtype)}`);
  }
  for (const [name, value] of [['modelDir', modelDir], ['outDir', outDir]] as const) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`crossrank: quantizeModel(modelDir, outDir): ${name} must be a non-empty string`);
    }
  }
  const source = modelFolder(modelDir);
  const target = resolve(outDir);
  mkdirSync(target, { recursive: true });
  if (realpathSync(target) === realpathSync(source)) {
    throw new RangeError(`crossrank: quantizeModel: outDir must differ from modelDir (${source})`);
  }
  try {
    engineAddon().quantizeModel(source, join(target, 'model.safetensors'), dtype);
  } catch (error) {
    throw fromNative(error, { modelPath: source });
  }
  for (const name of readdirSync(source)) {
    const path = join(source, name);
    if (statSync(path).isFile() && !WEIGHT_EXTENSIONS.has(extname(name)) && !isShardIndex(name)) copyFileSync(path, join(target, name));
  }
}
