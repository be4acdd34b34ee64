/**
 * The server's open connections: which have a request in progress, a cap on
 * their number, and closing them on shutdown. Node's own bookkeeping cannot
 * serve here: closeIdleConnections() leaves a connection that has sent
 * nothing yet (Node counts it as in a request from its first moment), so a
 * silent client would hold a shutdown open until it leaves.
 */
import { readFileSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Most connections by default, whatever the open-files limit allows. */
const MAX_CONNECTIONS = 16384;
/** File descriptors left for everything else (model files, logs, the listening socket). */
const RESERVED_FDS = 256;

/** MAX_CONNECTIONS, or fewer when the process's open-files limit (Linux) is lower. */
export function defaultMaxConnections(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    if (soft !== undefined) return Math.max(16, Math.min(MAX_CONNECTIONS, Number(soft) - RESERVED_FDS));
  } catch {
    // Not Linux: no limit to read.
  }
  return MAX_CONNECTIONS;
}

export class Connections {
  /** Open connections, oldest first, with how many of their requests are unanswered. */
  readonly #open = new Map<Socket, { busy: number }>();
  readonly #max: number;
  readonly #onRefused: () => void;

  constructor(http: Server, max: number, onRefused: () => void) {
    this.#max = max;
    this.#onRefused = onRefused;
    http.on('connection', (socket: Socket) => this.#accept(socket));
  }

  get size(): number {
    return this.#open.size;
  }

  /** Marks a request started; false for a connection that was refused (no answer is owed). */
  begin(socket: Socket, res: ServerResponse): boolean {
    const connection = this.#open.get(socket);
    if (!connection) return false;
    connection.busy++;
    res.once('close', () => connection.busy--);
    return true;
  }

  /** Closes every connection without a request in progress. */
  closeIdle(): void {
    for (const [socket, connection] of this.#open) if (connection.busy === 0) socket.destroy();
  }

  closeAll(): void {
    for (const socket of this.#open.keys()) socket.destroy();
  }

  #accept(socket: Socket): void {
    // At the cap, the oldest connection with nothing in progress makes room:
    // a flood of silent sockets then cannot lock out /health or real clients.
    if (this.#open.size >= this.#max && !this.#evictOneIdle()) {
      this.#refuse(socket);
      return;
    }
    this.#open.set(socket, { busy: 0 });
    socket.once('close', () => this.#open.delete(socket));
  }

  #evictOneIdle(): boolean {
    for (const [socket, connection] of this.#open) {
      if (connection.busy === 0) {
        this.#open.delete(socket);
        socket.destroy();
        return true;
      }
    }
    return false;
  }

  /** Answers 503 on the raw socket, before any request is read, and closes it. */
  #refuse(socket: Socket): void {
    this.#onRefused();
    const body = JSON.stringify({
      error: `the server has ${this.#max} connections open, each with a request in progress; retry later`,
      error_type: 'overloaded',
    });
    socket.pause();
    socket.end(
      'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${body}`,
    );
    // A client that never reads its refusal must not hold the descriptor.
    socket.setTimeout(1000, () => socket.destroy());
  }
}
