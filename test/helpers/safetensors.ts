/** Reads and writes safetensors files, so tests can make broken and re-typed copies of a model. */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface SafetensorsFile {
  tensors: Record<string, TensorEntry>;
  metadata?: Record<string, string>;
  data: Buffer;
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path));
}

export function parseSafetensors(bytes: Buffer): SafetensorsFile {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  const { __metadata__: metadata, ...tensors } = header;
  return {
    tensors: tensors as Record<string, TensorEntry>,
    metadata: metadata as Record<string, string> | undefined,
    data: bytes.subarray(8 + headerLength),
  };
}

/** Serialises a header object (written as given, so tests can make it wrong) and a data section. */
export function encodeSafetensors(header: unknown, data: Buffer): Buffer {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padding = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(padding, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

export function writeSafetensors(path: string, file: SafetensorsFile): void {
  const header: Record<string, unknown> = { ...file.tensors };
  if (file.metadata) header['__metadata__'] = file.metadata;
  writeFileSync(path, encodeSafetensors(header, file.data));
}

/** A fresh temporary copy of a model folder (every file but the ones listed in `skip`). */
export function copyModel(dir: string, skip: string[] = []): string {
  const copy = mkdtempSync(join(tmpdir(), 'crossrank-test-'));
  for (const name of readdirSync(dir)) {
    if (!skip.includes(name) && !name.endsWith('.md')) copyFileSync(join(dir, name), join(copy, name));
  }
  return copy;
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Rewrites every F16 tensor as F32 or BF16 (exact for the tiny fixture, whose weights are BF16-representable). */
export function convertF16(file: SafetensorsFile, dtype: 'F32' | 'BF16'): SafetensorsFile {
  const chunks: Buffer[] = [];
  const tensors: Record<string, TensorEntry> = {};
  let offset = 0;
  for (const [name, entry] of Object.entries(file.tensors)) {
    const source = file.data.subarray(entry.data_offsets[0], entry.data_offsets[1]);
    let bytes: Buffer;
    if (entry.dtype === 'F16') {
      const count = source.length / 2;
      const floats = new Float32Array(count);
      for (let i = 0; i < count; i++) floats[i] = f16ToF32(source.readUInt16LE(i * 2));
      if (dtype === 'F32') {
        bytes = Buffer.from(floats.buffer);
      } else {
        const words = new Uint32Array(floats.buffer);
        bytes = Buffer.alloc(count * 2);
        for (let i = 0; i < count; i++) {
          if ((words[i]! & 0xffff) !== 0) throw new Error(`${name}[${i}] is not representable in BF16`);
          bytes.writeUInt16LE(words[i]! >>> 16, i * 2);
        }
      }
    } else {
      bytes = Buffer.from(source);
    }
    tensors[name] = { dtype: entry.dtype === 'F16' ? dtype : entry.dtype, shape: entry.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  return { tensors, metadata: file.metadata, data: Buffer.concat(chunks) };
}

/**
 * Splits a model.safetensors into `count` shard files and the index
 * transformers writes beside them (model.safetensors.index.json), tensors
 * dealt out in header order so every shard holds some.
 */
export function shardModel(weights: Buffer, count: number): Record<string, Buffer> {
  const file = parseSafetensors(weights);
  const names = Object.keys(file.tensors);
  const shardName = (i: number): string => `model-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
  const out: Record<string, Buffer> = {};
  const weightMap: Record<string, string> = {};
  for (let shard = 0; shard < count; shard++) {
    const mine = names.slice(Math.floor((names.length * shard) / count), Math.floor((names.length * (shard + 1)) / count));
    const tensors: Record<string, TensorEntry> = {};
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const name of mine) {
      const entry = file.tensors[name]!;
      const bytes = file.data.subarray(entry.data_offsets[0], entry.data_offsets[1]);
      tensors[name] = { dtype: entry.dtype, shape: entry.shape, data_offsets: [offset, offset + bytes.length] };
      chunks.push(bytes);
      offset += bytes.length;
      weightMap[name] = shardName(shard);
    }
    out[shardName(shard)] = encodeSafetensors({ ...tensors, __metadata__: { format: 'pt' } }, Buffer.concat(chunks));
  }
  out['model.safetensors.index.json'] = Buffer.from(JSON.stringify({ metadata: { total_size: file.data.length }, weight_map: weightMap }, null, 2));
  return out;
}

/**
 * A copy of a sequence-classification model folder laid out as its bare
 * encoder: the classifier's tensors dropped, the encoder prefix (`bert.`,
 * `roberta.`) taken off, config.json's architectures set (or removed: null).
 */
export function bareEncoderCopy(dir: string, prefix: string, architectures: string[] | null): string {
  const copy = copyModel(dir);
  const file = readSafetensors(join(copy, 'model.safetensors'));
  const tensors: Record<string, TensorEntry> = {};
  for (const [name, entry] of Object.entries(file.tensors)) {
    if (!name.startsWith('classifier.')) tensors[name.startsWith(prefix) ? name.slice(prefix.length) : name] = entry;
  }
  writeSafetensors(join(copy, 'model.safetensors'), { ...file, tensors });
  const config = JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8')) as Record<string, unknown>;
  if (architectures) config['architectures'] = architectures;
  else delete config['architectures'];
  writeFileSync(join(copy, 'config.json'), JSON.stringify(config));
  return copy;
}
