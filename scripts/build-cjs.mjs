// Builds the CommonJS entry point beside the ES module one, so that
// `require('crossrank')` works on every supported Node (require(esm) is not
// there on all of them) and CommonJS TypeScript projects get types:
//   dist/cjs/index.js    lib/index.ts bundled as CommonJS by esbuild
//   dist/cjs/**/*.d.ts   tsc's declarations, copied; dist/cjs/package.json says
//                        "type": "commonjs", so TypeScript reads them as CommonJS
// Runs after `tsc -p tsconfig.json` (npm run build:ts).
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const esmDir = join(root, 'dist', 'lib');
const cjsDir = join(root, 'dist', 'cjs');

rmSync(cjsDir, { recursive: true, force: true });
mkdirSync(cjsDir, { recursive: true });
// No "name": lib/native.ts walks up from here to the package.json named crossrank.
writeFileSync(join(cjsDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

await build({
  entryPoints: [join(root, 'lib', 'index.ts')],
  outfile: join(cjsDir, 'index.js'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Dependencies stay require()d from node_modules, as in the ES module build.
  packages: 'external',
  // lib/native.ts finds the package and loads the .node files relative to
  // import.meta.url, which CommonJS lacks: give it this file's URL.
  define: { 'import.meta.url': 'crossrankModuleUrl' },
  banner: { js: "const crossrankModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

// Every declaration file, subfolders (hub/, server/) included: index.d.ts refers to them.
for (const entry of readdirSync(esmDir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const from = join(entry.parentPath, entry.name);
  const to = join(cjsDir, relative(esmDir, from));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
