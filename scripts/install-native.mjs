// npm install script of the published package: the source fallback.
// A prebuilt binary (prebuilds/<platform>/) needs no install script at all;
// this only acts when a native part does not load, and then builds it from
// the shipped sources: the C++ addon with node-gyp (binding.gyp), the
// tokenizer with cargo. When a tool is missing it says exactly which.
// In a clone of the repository it does nothing: `npm run build` builds there.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (existsSync(join(root, 'lib', 'native.ts'))) process.exit(0);

const native = await import('../dist/lib/native.js');

function loadError(load) {
  try {
    load();
    return undefined;
  } catch (error) {
    return error;
  }
}

function onPath(command) {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir !== '' && existsSync(join(dir, command)));
}

function run(command, args) {
  console.log(`crossrank: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(`crossrank: \`${command} ${args.join(' ')}\` failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

// npm hands its bundled node-gyp to install scripts in npm_config_node_gyp.
const nodeGypScript = process.env.npm_config_node_gyp;
const engineBuild = {
  name: 'native engine',
  load: native.engineAddon,
  missing: () => [
    ...(['c++', 'g++', 'clang++'].some(onPath) ? [] : ['a C++17 compiler (c++, g++ or clang++)']),
    ...(onPath('make') ? [] : ['make']),
    ...(onPath('python3') ? [] : ['python3 (node-gyp runs on it)']),
    ...((nodeGypScript && existsSync(nodeGypScript)) || onPath('node-gyp') ? [] : ['node-gyp (comes with npm)']),
  ],
  build: () => {
    if (nodeGypScript && existsSync(nodeGypScript)) run(process.execPath, [nodeGypScript, 'rebuild']);
    else run('node-gyp', ['rebuild']);
  },
};
const tokenizerBuild = {
  name: 'tokenizer',
  load: native.tokenizerAddon,
  missing: () => (onPath('cargo') ? [] : ['Rust with cargo']),
  build: () => {
    run('cargo', ['build', '--release', '--manifest-path', join('crates', 'tokenizer', 'Cargo.toml')]);
    // Where the loader looks for a local build, as napi build names it.
    const out = join(root, 'build', 'tokenizer');
    mkdirSync(out, { recursive: true });
    const library = { darwin: 'libcrossrank_tokenizer.dylib', win32: 'crossrank_tokenizer.dll' }[process.platform];
    copyFileSync(
      join(root, 'crates', 'tokenizer', 'target', 'release', library ?? 'libcrossrank_tokenizer.so'),
      join(out, `crossrank-tokenizer.${native.platformTag()}.node`),
    );
  },
};

for (const part of [engineBuild, tokenizerBuild]) part.loadError = loadError(part.load);
const toBuild = [engineBuild, tokenizerBuild].filter((part) => part.loadError);
if (toBuild.length === 0) process.exit(0);

const missing = [...new Set(toBuild.flatMap((part) => part.missing()))];
if (missing.length > 0) {
  console.error(
    `crossrank: no prebuilt ${toBuild.map((part) => part.name).join(' and ')} loads here, ` +
      `and building from source needs what this machine lacks: ${missing.join('; ')}.\n` +
      toBuild.map((part) => part.loadError.message).join('\n'),
  );
  process.exit(1);
}
for (const part of toBuild) {
  console.log(`crossrank: building the ${part.name} from source (${part.loadError.message.split('\n')[0]})`);
  part.build();
}
for (const part of toBuild) part.loadError = loadError(part.load);
const stillFailing = toBuild.filter((part) => part.loadError);
if (stillFailing.length > 0) {
  console.error(`crossrank: built from source, but still cannot load:\n${stillFailing.map((p) => p.loadError.message).join('\n')}`);
  process.exit(1);
}
