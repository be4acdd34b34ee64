/** Download progress on the command line: one line per file, redrawn in place on a terminal. */
import type { DownloadProgress } from './download.js';

const REDRAW_MS = 200;

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export class DownloadProgressPrinter {
  #file: string | undefined;
  #lastDraw = 0;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Pass as `onProgress`. */
  readonly update = (progress: DownloadProgress): void => {
    const { modelId, file, loaded, total } = progress;
    const done = total !== undefined && loaded >= total;
    const now = Date.now();
    const newFile = file !== this.#file;
    if (!newFile && !done && now - this.#lastDraw < REDRAW_MS) return;
    if (!this.stream.isTTY && !newFile && !done) return;
    this.#lastDraw = now;
    const size = total === undefined ? megabytes(loaded) : `${megabytes(loaded)} / ${megabytes(total)}`;
    const line = `crossrank: downloading ${modelId}: ${file} ${size}${done ? ', done' : ''}`;
    if (this.stream.isTTY) this.stream.write(`${newFile && this.#file !== undefined ? '\n' : '\r'}${line}\x1b[K${done ? '\n' : ''}`);
    else this.stream.write(`${line}\n`);
    this.#file = done ? undefined : file;
  };
}
