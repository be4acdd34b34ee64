/** Checks on request bytes and model files that the server reports on. */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Offset of the first byte of `bytes` that cannot be read as UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing past U+10FFFF): a bad lead byte,
 * a bad continuation byte, or the lead of a sequence cut short by the end.
 * -1 when all of it is valid.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    let need: number;
    // The allowed range of the second byte narrows for E0, ED, F0 and F4 (overlongs, surrogates, > U+10FFFF).
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) need = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      need = 2;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      need = 3;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return i;
    if (i + need >= bytes.length) {
      // Cut short by the end: report its lead unless a byte present is already wrong.
      for (let k = 1; i + k < bytes.length; k++) {
        const b = bytes[i + k]!;
        if (k === 1 ? b < low || b > high : b < 0x80 || b > 0xbf) return i + k;
      }
      return i;
    }
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k]!;
      if (k === 1 ? b < low || b > high : b < 0x80 || b > 0xbf) return i + k;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * What the folder's model.safetensors stores its matrices in: 'I8' for a
 * pre-quantised folder (int8 matrices beside F32 scales, which the engine
 * reports by those scales' dtype), otherwise `engineReported`.
 */
export function weightsFileDtype(folder: string, engineReported: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(join(folder, 'model.safetensors'), 'r');
    const size = Buffer.alloc(8);
    if (readSync(fd, size, 0, 8, 0) !== 8) return engineReported;
    const length = Number(size.readBigUInt64LE(0));
    if (length > 100 * 1024 * 1024) return engineReported;
    const header = Buffer.alloc(length);
    if (readSync(fd, header, 0, length, 8) !== length) return engineReported;
    const tensors = JSON.parse(header.toString('utf8')) as Record<string, { dtype?: string }>;
    return Object.values(tensors).some((tensor) => tensor?.dtype === 'I8') ? 'I8' : engineReported;
  } catch {
    // Not a single safetensors file (the engine read something else): trust the engine.
    return engineReported;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
