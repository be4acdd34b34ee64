/**
 * crossrank from every kind of Node project, on the built dist (npm test also
 * runs this file on each supported Node line): `require('crossrank')` from
 * CommonJS, `import` from an ES module, TypeScript projects compiled with
 * `--module node16` as CommonJS and as ES modules against the shipped types,
 * and a libc probe that never asks Node for a report with network details
 * (which does reverse DNS on every open socket, nodejs/node#46060).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { repoRoot, tinyDir } from './helpers/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'crossrank-node-compat-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

const pairs = [
  ['how do rerankers work', 'A reranker reads the query and the passage together.'],
  ['how do rerankers work', 'Bananas are rich in potassium.'],
];

/** A project folder whose node_modules/crossrank is this repository (its package.json, exports and dist). */
function project(name: string, type: 'commonjs' | 'module'): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(repoRoot, join(dir, 'node_modules', 'crossrank'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type }));
  return dir;
}

function node(dir: string, file: string): string {
  const result = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`node ${file} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

// Prints the logits of `pairs` on the tiny fixture, the default model's best
// document and whether the error classes are the package's.
const body = `
const model = CrossEncoder.load(${JSON.stringify(tinyDir)});
const logits = Array.from(model.predictSync(${JSON.stringify(pairs)}, { activation: 'none' }));
const numLabels = model.config.numLabels;
model.dispose();
const shipped = CrossEncoder.load();
const ranked = await shipped.rank('what does a reranker do', ['Paris is in France.', 'A reranker reorders retrieved passages.']);
shipped.dispose();
let disposedError = false;
try { shipped.predictSync([['a', 'b']]); } catch (error) { disposedError = error instanceof DisposedError; }
console.log(JSON.stringify({ logits, numLabels, best: ranked[0].index, disposedError }));
`;

interface Output {
  logits: number[];
  numLabels: number;
  best: number;
  disposedError: boolean;
}

test('require() from CommonJS and import from an ES module load the same engine and score alike', (t) => {
  const cjs = project('cjs', 'commonjs');
  writeFileSync(join(cjs, 'main.js'), `const { CrossEncoder, DisposedError } = require('crossrank');\n(async () => {${body}})();\n`);
  const fromRequire = JSON.parse(node(cjs, 'main.js')) as Output;

  const esm = project('esm', 'module');
  writeFileSync(join(esm, 'main.js'), `import { CrossEncoder, DisposedError } from 'crossrank';\n${body}`);
  const fromImport = JSON.parse(node(esm, 'main.js')) as Output;

  t.is(fromRequire.logits.length, pairs.length * fromRequire.numLabels);
  t.deepEqual(fromRequire, fromImport);
  t.is(fromRequire.best, 1, 'the default model ranks the reranker passage first');
  t.true(fromRequire.disposedError, "CommonJS gets the package's own error classes");

  // Both entry points in one process: the native parts load once and both work.
  writeFileSync(
    join(esm, 'both.mjs'),
    `import { createRequire } from 'node:module';
import * as esm from 'crossrank';
const cjs = createRequire(import.meta.url)('crossrank');
const a = esm.CrossEncoder.load(${JSON.stringify(tinyDir)});
const b = cjs.CrossEncoder.load(${JSON.stringify(tinyDir)});
const pairs = ${JSON.stringify(pairs)};
console.log(JSON.stringify([Array.from(a.predictSync(pairs)), Array.from(b.predictSync(pairs))]));
`,
  );
  const [viaImport, viaRequire] = JSON.parse(node(esm, 'both.mjs')) as [number[], number[]];
  t.deepEqual(viaImport, viaRequire);
});

const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

// Uses the public types the way a user would; a wrong type is a compile error.
const typedSource = `
import { CrossEncoder, type RankResult, type PredictOptions, NativeLoadError } from 'crossrank';

async function main(): Promise<void> {
  const options: PredictOptions = { activation: 'none' };
  const model = CrossEncoder.load();
  const scores: Float32Array = await model.predict([['a query', 'a passage']], options);
  const ranked: RankResult[] = await model.rank('a query', ['one', 'two'], { topK: 1, maxTokensPerDoc: 64 });
  model.dispose();
  const isError: boolean = new NativeLoadError('x') instanceof Error;
  console.log(JSON.stringify({ scores: scores.length, ranked: ranked.length, window: ranked[0]!.window?.count, isError }));
}
void main();
`;

function compileAndRun(t: import('ava').ExecutionContext, type: 'commonjs' | 'module'): void {
  const dir = project(`ts-${type}`, type);
  writeFileSync(join(dir, 'main.ts'), typedSource);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'ES2022',
        strict: true,
        // The package's own declaration files are checked too.
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(repoRoot, 'node_modules', '@types')],
        outDir: 'out',
      },
      files: ['main.ts'],
    }),
  );
  const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
  t.is(compiled.status, 0, `tsc --module node16 (${type}): ${compiled.stdout}${compiled.stderr}`);
  const emitted = execFileSync('cat', [join(dir, 'out', 'main.js')], { encoding: 'utf8' });
  if (type === 'commonjs') t.regex(emitted, /require\("crossrank"\)/, 'compiled to a CommonJS require');
  else t.regex(emitted, /from 'crossrank'/, 'compiled to an ES module import');
  const out = JSON.parse(node(dir, join('out', 'main.js'))) as Record<string, unknown>;
  t.deepEqual(out, { scores: 1, ranked: 1, window: 1, isError: true });
}

test('a TypeScript --module node16 CommonJS project compiles against the types and runs', (t) => {
  compileAndRun(t, 'commonjs');
});

test('a TypeScript --module node16 ES module project compiles against the types and runs', (t) => {
  compileAndRun(t, 'module');
});

test('the libc probe never asks for a process report with network details', (t) => {
  // A report that would resolve socket peers throws here; the probe must not need one.
  const script = `
process.report.getReport = function () {
  if (!process.report.excludeNetwork) throw new Error('getReport() with network details: reverse DNS on open sockets');
  return { header: { glibcVersionRuntime: '2.36' } };
};
const { platformTag } = await import(${JSON.stringify(join(repoRoot, 'dist', 'lib', 'native.js'))});
console.log(platformTag());
`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.trim(), `linux-${process.arch}-gnu`);
});
