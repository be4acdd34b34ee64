/**
 * The one rule for a test that cannot run here (a tool or fixture missing):
 * with CROSSRANK_REQUIRE_ALL=1 (set by .ci/run) or CI=true it is a failure;
 * otherwise the test says why on stderr and in the list `npm test` prints at
 * the end (scripts/test.mjs passes the list's path as CROSSRANK_NOT_RUN_FILE).
 */
import { appendFileSync } from 'node:fs';

export function everythingRequired(): boolean {
  return process.env['CROSSRANK_REQUIRE_ALL'] === '1' || process.env['CI'] === 'true';
}

/** Throws when everything must run; else records `what` as not run because of `why`. */
export function notRun(what: string, why: string): void {
  const line = `${what}: ${why}`;
  if (everythingRequired()) throw new Error(`cannot run ${line} (CROSSRANK_REQUIRE_ALL=1 or CI=true: nothing may be skipped)`);
  console.warn(`NOT RUN: ${line}`);
  const file = process.env['CROSSRANK_NOT_RUN_FILE'];
  if (file) appendFileSync(file, `${line}\n`);
}
