/** Starting RerankServer on loopback for a test, and reading it back. */
import type { ExecutionContext } from 'ava';

import type { CrossEncoder } from '../../lib/index.js';
import { RerankServer, type ServerOptions } from '../../lib/server/server.js';

export interface Running {
  server: RerankServer;
  base: string;
  port: number;
}

/** A server on a free loopback port, closed when the test ends, passed or failed. */
export async function startServer(t: ExecutionContext, model: CrossEncoder, options: ServerOptions = {}): Promise<Running> {
  const server = new RerankServer(model, options);
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return { server, base: `http://127.0.0.1:${port}`, port };
}

/** A sample value from the Prometheus text (`name{labels} value`), 0 when absent. */
export async function metric(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Polls `condition` every 20 ms; throws naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
