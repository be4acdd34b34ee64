/**
 * `npm test` on a machine that lacks optional tools: it says which suites it
 * cannot run and why, and passes, unless CROSSRANK_REQUIRE_ALL=1 or CI=true
 * (what .ci/run sets), which turn every such suite into a failure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { repoRoot } from './helpers/fixtures.js';

// A PATH with node and sh only: no cross compiler, no qemu, no rustc.
const bin = mkdtempSync(join(tmpdir(), 'crossrank-bare-path-'));
symlinkSync(process.execPath, join(bin, 'node'));
symlinkSync(spawnSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).stdout.trim(), join(bin, 'sh'));
test.after.always(() => rmSync(bin, { recursive: true, force: true }));

function plan(extraEnv: Record<string, string>) {
  return spawnSync(process.execPath, [join(repoRoot, 'scripts', 'test.mjs'), '--plan'], {
    cwd: repoRoot,
    env: { PATH: bin, ...extraEnv },
    encoding: 'utf8',
  });
}

test('without qemu and the cross compiler, npm test lists the NEON and arm64 suites as not run, and why', (t) => {
  const result = plan({});
  t.is(result.status, 0, result.stderr);
  t.regex(
    result.stdout,
    /^NOT RUN: NEON kernel tests under qemu-aarch64: missing aarch64-linux-gnu-g\+\+, aarch64-linux-gnu-gcc, qemu-aarch64.*; to run it: apt-get install .*qemu-user/m,
  );
  t.regex(result.stdout, /^NOT RUN: linux-arm64-gnu prebuilt binaries .*: missing Rust's aarch64-unknown-linux-gnu standard library; to run it: rustup target add/m);
});

test('CROSSRANK_REQUIRE_ALL=1 or CI=true turn a suite that cannot run into a failure', (t) => {
  for (const env of [{ CROSSRANK_REQUIRE_ALL: '1' }, { CI: 'true' }] as Record<string, string>[]) {
    const result = plan(env);
    t.is(result.status, 1, JSON.stringify(env));
    t.regex(result.stdout, /^NOT RUN: NEON/m);
  }
});
