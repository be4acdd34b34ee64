#!/usr/bin/env node
// npm run demo's last step (after the build and fetch-models): retrieve with the all-MiniLM-L6-v2
// bi-encoder, rerank with cross-encoder/ms-marco-MiniLM-L6-v2 if it is in the Hugging Face cache,
// else with the repository's offline model, saying which ran and why. Never downloads, so it
// works on a machine with no network.
import { spawnSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { findCachedModel } = await import(join(root, 'dist', 'lib', 'hub', 'cache.js'));
const { hubCacheDir } = await import(join(root, 'dist', 'lib', 'hub', 'settings.js'));
const { DEFAULT_MODEL_ID, offlineModelPath } = await import(join(root, 'dist', 'lib', 'default-model.js'));

const cacheDir = hubCacheDir();
const cached = findCachedModel(cacheDir, DEFAULT_MODEL_ID, 'main', 'cross-encoder');
let model;
if (cached) {
  model = DEFAULT_MODEL_ID;
  console.log(`demo: reranking with ${DEFAULT_MODEL_ID} (the default model), found in the Hugging Face cache at ${cached.dir}`);
} else {
  model = offlineModelPath();
  console.log(
    `demo: reranking with the repository's offline model ${relative(root, model)}, because ${DEFAULT_MODEL_ID} ` +
      `(the default model) is not in the Hugging Face cache ${cacheDir}.\n` +
      '      That model ranks below the bi-encoder on queries it was not trained on (README: The default model);\n' +
      `      where the hub is reachable, \`npx crossrank download ${DEFAULT_MODEL_ID}\` makes the demo use the default.\n`,
  );
}
const run = spawnSync(
  process.execPath,
  [join(root, 'dist', 'lib', 'cli.js'), 'search', '--encoder', join(root, '.cache', 'models', 'all-minilm-l6-v2'), '--model', model,
    '--query', 'how do rerankers work', '--docs', join(root, 'examples', 'passages.txt'), '--retrieve-k', '8'],
  { stdio: 'inherit' },
);
process.exitCode = run.status ?? 1;
