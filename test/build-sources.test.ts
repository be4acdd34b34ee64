/**
 * The CMake and node-gyp builds compile the same sources with the same
 * per-file ISA flags: both read native/sources.json, which must list every
 * source file under native/ exactly once.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

import test from 'ava';

import { repoRoot } from './helpers/fixtures.js';

const sources = JSON.parse(readFileSync(join(repoRoot, 'native', 'sources.json'), 'utf8')) as Record<string, unknown>;
const lists = Object.fromEntries(Object.entries(sources).filter(([key]) => !key.startsWith('//'))) as Record<string, string[]>;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [relative(repoRoot, join(dir, entry.name))],
  );
}

test('every .cc file under native/ is listed exactly once', (t) => {
  const listed = Object.values(lists).flat();
  t.is(new Set(listed).size, listed.length, 'a file is listed twice');
  const onDisk = walk(join(repoRoot, 'native')).filter((f) => f.endsWith('.cc') && !f.includes(`${'fuzz'}/`));
  t.deepEqual([...onDisk].sort(), [...listed].sort());
});

// kernels/x86/ holds what the x86 kernels share (the int8 frame), built with
// the AVX2 group's flags, the baseline of every x86 table.
test('AVX2 and AVX-512 flags go only to files under kernels/avx2/, kernels/x86/ and kernels/avx512/', (t) => {
  for (const file of lists['kernels_avx2'] ?? []) t.true(/^native\/src\/kernels\/(avx2|x86)\//.test(file), file);
  for (const file of lists['kernels_avx512'] ?? []) t.true(file.startsWith('native/src/kernels/avx512/'), file);
  for (const file of lists['core'] ?? []) t.false(/\/avx2\/|\/avx512\/|\/x86\//.test(file), file);
});

test('AVX-512 VNNI flags go only to files under kernels/avx512vnni/', (t) => {
  for (const file of lists['kernels_avx512vnni'] ?? []) t.true(file.startsWith('native/src/kernels/avx512vnni/'), file);
  for (const file of [...(lists['core'] ?? []), ...(lists['kernels_avx2'] ?? [])]) t.false(file.includes('/avx512vnni/'), file);
});

test('AVX512-BF16 flags go only to files under kernels/avx512bf16/', (t) => {
  for (const file of lists['kernels_avx512bf16'] ?? []) t.true(file.startsWith('native/src/kernels/avx512bf16/'), file);
  for (const file of [...(lists['core'] ?? []), ...(lists['kernels_avx2'] ?? [])]) t.false(file.includes('/avx512bf16/'), file);
});

test('AMX flags go only to files under kernels/amx/, with the AVX512-BF16 ones', (t) => {
  for (const file of lists['kernels_amx'] ?? []) t.true(file.startsWith('native/src/kernels/amx/'), file);
  for (const [key, files] of Object.entries(lists)) {
    if (key !== 'kernels_amx') for (const file of files) t.false(file.includes('/amx/'), `${key}: ${file}`);
  }
  const cmake = readFileSync(join(repoRoot, 'CMakeLists.txt'), 'utf8');
  const gyp = readFileSync(join(repoRoot, 'binding.gyp'), 'utf8');
  t.regex(cmake, /crossrank_source_list\(kernels_amx /);
  t.regex(cmake, /CROSSRANK_AMX_FLAGS \$\{CROSSRANK_AVX512BF16_FLAGS\} -mavx512vnni -mamx-tile -mamx-bf16 -mamx-int8/);
  t.regex(gyp, /\.kernels_amx\./);
  for (const flag of ['-mavx512bf16', '-mamx-tile', '-mamx-bf16', '-mamx-int8']) t.true(gyp.includes(`"${flag}"`), flag);
});

test('Arm I8MM and BF16 flags go only to files under kernels/neon_i8mm/ and kernels/neon_bf16/', (t) => {
  for (const file of lists['kernels_neon_i8mm'] ?? []) t.true(file.startsWith('native/src/kernels/neon_i8mm/'), file);
  for (const file of lists['kernels_neon_bf16'] ?? []) t.true(file.startsWith('native/src/kernels/neon_bf16/'), file);
  for (const file of [...(lists['core'] ?? []), ...(lists['kernels_neon'] ?? [])]) {
    t.false(file.includes('/neon_i8mm/') || file.includes('/neon_bf16/'), file);
  }
  const cmake = readFileSync(join(repoRoot, 'CMakeLists.txt'), 'utf8');
  const gyp = readFileSync(join(repoRoot, 'binding.gyp'), 'utf8');
  // CMake takes the first of these that compiles the intrinsic (GCC: -march, zig's clang: -mcpu).
  t.true(cmake.includes('"-march=armv8.2-a+${feature}" "-mcpu=generic+${feature}"'));
  for (const [key, flag] of [['kernels_neon_i8mm', '-march=armv8.2-a+i8mm'], ['kernels_neon_bf16', '-march=armv8.2-a+bf16']] as const) {
    t.regex(cmake, new RegExp(`crossrank_source_list\\(${key} `), `CMake reads ${key}`);
    t.regex(gyp, new RegExp(`\\.${key}\\.`), `gyp reads ${key}`);
    t.regex(cmake, new RegExp(`crossrank_arm_feature_flag\\(${flag.split('+')[1]}\\b`), `CMake finds a flag for ${key}`);
    t.true(gyp.includes(`"${flag}"`), `gyp gives ${key} ${flag}`);
  }
});

test('CMakeLists.txt and binding.gyp take their lists from sources.json', (t) => {
  const cmake = readFileSync(join(repoRoot, 'CMakeLists.txt'), 'utf8');
  const gyp = readFileSync(join(repoRoot, 'binding.gyp'), 'utf8');
  for (const key of ['core', 'kernels_avx2', 'kernels_avx512', 'kernels_avx512vnni', 'kernels_avx512bf16', 'kernels_amx', 'addon']) {
    t.regex(cmake, new RegExp(`crossrank_source_list\\(${key} `), `CMake reads ${key}`);
    t.regex(gyp, new RegExp(`sources\\.json'\\)\\.${key}|sources\\.json"\\)\\.${key}|\\.${key}\\.`), `gyp reads ${key}`);
  }
  t.notRegex(gyp, /\.cc['"]/, 'binding.gyp names no source file itself');
  t.regex(cmake, /-mavx2;-mfma/);
  t.regex(gyp, /-mavx2/);
  t.regex(cmake, /-mavx512f;/);
  t.regex(gyp, /-mavx512f/);
  t.regex(cmake, /-mavx512vl;-mavx512bw;-mavx512vnni/);
  t.regex(gyp, /-mavx512vnni/);
  t.regex(cmake, /-mavx512bw;-mavx512bf16/);
  t.regex(gyp, /-mavx512bf16/);
});
