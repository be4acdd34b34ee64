/** Opening a model folder: the checks, the native model and the tokenizer, with errors naming the folder. */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

import { fromNative, ModelLoadError } from './errors.js';
import { type Dtype, engineAddon, type NativeModel, type NativeTokenizer, tokenizerAddon } from './native.js';

export interface NativeLoadOptions {
  threads?: number | undefined;
  dtype?: Dtype | undefined;
  /** Load the encoder alone: no pooler or classifier needed. */
  encoderOnly?: boolean;
}

/** The absolute path of an existing folder; ModelLoadError otherwise. */
export function modelFolder(path: string): string {
  const dir = resolve(path);
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    throw new ModelLoadError(`crossrank: model folder ${dir} does not exist`, dir);
  }
  if (!isDirectory) throw new ModelLoadError(`crossrank: ${dir} is not a folder (expected a model folder)`, dir);
  return dir;
}

export function loadNativeModel(dir: string, options: NativeLoadOptions): NativeModel {
  const { Model } = engineAddon();
  try {
    return new Model(dir, {
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
      ...(options.encoderOnly ? { encoderOnly: true } : {}),
    });
  } catch (error) {
    throw fromNative(error, { modelPath: dir, loading: true });
  }
}

export function loadTokenizer(dir: string): NativeTokenizer {
  const { Tokenizer } = tokenizerAddon();
  try {
    return Tokenizer.fromDir(dir);
  } catch (error) {
    throw fromNative(error, { modelPath: dir, loading: true, context: `cannot load the tokenizer of ${dir}` });
  }
}
