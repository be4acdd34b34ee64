/**
 * A lock file shared by processes that download into the same cache: the
 * first to create it (O_EXCL) downloads, the others wait and then find the
 * file done. A holder that died leaves its lock behind, so a lock whose
 * process is gone (same host) or that has not been touched for a while (a
 * holder refreshes it while it works) is taken over.
 */
import { open, readFile, rm, utimes, stat } from 'node:fs/promises';
import { hostname } from 'node:os';

const POLL_MS = 100;
const REFRESH_MS = 5_000;
/** Several refreshes missed: the holder is gone even if we cannot ask its host. */
const STALE_MS = 60_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(path: string): Promise<boolean> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    if (Date.now() - info.mtimeMs > STALE_MS) return true;
    const holder = JSON.parse(text) as { pid?: unknown; host?: unknown };
    return holder.host === hostname() && typeof holder.pid === 'number' && !processAlive(holder.pid);
  } catch (error) {
    // Gone already (not stale, just retry), or written half-way by a holder that is creating it now.
    return false;
  }
}

/** Runs `work` holding the lock at `path`; waits for it first if another process holds it. */
export async function withFileLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname() }));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (await isStale(path)) await rm(path, { force: true });
      else await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  const refresh = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, REFRESH_MS);
  refresh.unref();
  try {
    return await work();
  } finally {
    clearInterval(refresh);
    await rm(path, { force: true });
  }
}
