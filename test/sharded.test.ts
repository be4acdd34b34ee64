/**
 * Sharded checkpoints (model.safetensors.index.json beside model-0000N-of-0000M
 * .safetensors, as transformers saves large models): loaded as one file,
 * quantised to one file, and refused with the index named when inconsistent.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { CrossEncoder, ModelLoadError, quantizeModel } from '../lib/index.js';
import { fixturesDir, tinyDir } from './helpers/fixtures.js';
import { copyModel, shardModel } from './helpers/safetensors.js';

const PAIRS: [string, string][] = [
  ['how do rerankers work', 'A reranker scores each passage against the query.'],
  ['capital of france', 'Paris is the capital of France.'],
  ['столица франции', '巴黎是法国的首都。'],
];
const INDEX = 'model.safetensors.index.json';

/** A copy of a model folder with its weights split into `count` shards. */
function shardedCopy(dir: string, count: number): string {
  const copy = copyModel(dir, ['model.safetensors']);
  for (const [name, bytes] of Object.entries(shardModel(readFileSync(join(dir, 'model.safetensors')), count))) writeFileSync(join(copy, name), bytes);
  return copy;
}

const scores = async (dir: string, dtype?: 'int8' | 'bf16'): Promise<number[]> => {
  const model = CrossEncoder.load(dir, dtype ? { dtype } : {});
  try {
    return Array.from(await model.predict(PAIRS, { activation: 'none' }));
  } finally {
    model.dispose();
  }
};

for (const family of ['tiny', 'tiny-xlm-roberta']) {
  test(`${family}: three shards score exactly as the single file, in fp32 and int8`, async (t) => {
    const dir = join(fixturesDir, family);
    const sharded = shardedCopy(dir, 3);
    t.teardown(() => rmSync(sharded, { recursive: true, force: true }));
    t.deepEqual(await scores(sharded), await scores(dir));
    t.deepEqual(await scores(sharded, 'int8'), await scores(dir, 'int8'));
  });
}

test('quantize writes one model.safetensors from shards, without the index, scoring as the quantised single file', async (t) => {
  const sharded = shardedCopy(tinyDir, 2);
  const work = mkdtempSync(join(tmpdir(), 'crossrank-sharded-'));
  t.teardown(() => {
    rmSync(sharded, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  quantizeModel(sharded, join(work, 'from-shards'));
  quantizeModel(tinyDir, join(work, 'from-single'));
  t.true(readFileSync(join(work, 'from-shards', 'model.safetensors')).equals(readFileSync(join(work, 'from-single', 'model.safetensors'))));
  t.throws(() => readFileSync(join(work, 'from-shards', INDEX)), { code: 'ENOENT' });
  t.deepEqual(await scores(join(work, 'from-shards')), await scores(join(work, 'from-single')));
});

test('an inconsistent index is refused naming the index, the shard and the tensor', (t) => {
  const sharded = shardedCopy(tinyDir, 2);
  t.teardown(() => rmSync(sharded, { recursive: true, force: true }));
  const index = JSON.parse(readFileSync(join(sharded, INDEX), 'utf8')) as { weight_map: Record<string, string> };
  const [firstTensor] = Object.keys(index.weight_map);
  const load = (): unknown => CrossEncoder.load(sharded);

  // A tensor placed in the wrong shard.
  writeFileSync(join(sharded, INDEX), JSON.stringify({ weight_map: { ...index.weight_map, [firstTensor!]: 'model-00002-of-00002.safetensors' } }));
  let error = t.throws(load, { instanceOf: ModelLoadError });
  t.true(error!.message.includes(join(sharded, INDEX)));
  t.regex(error!.message, new RegExp(`weight_map names tensor '${firstTensor!.replace(/\./g, '\\.')}' in model-00002-of-00002\\.safetensors, which does not hold it`));

  // A shard outside the folder.
  writeFileSync(join(sharded, INDEX), JSON.stringify({ weight_map: { ...index.weight_map, [firstTensor!]: '../model.safetensors' } }));
  error = t.throws(load, { instanceOf: ModelLoadError });
  t.regex(error!.message, /shard '\.\.\/model\.safetensors' of .* is not a file name in the model folder/);

  // A missing shard.
  rmSync(join(sharded, 'model-00002-of-00002.safetensors'));
  writeFileSync(join(sharded, INDEX), JSON.stringify(index));
  error = t.throws(load, { instanceOf: ModelLoadError });
  t.true(error!.message.includes(`${join(sharded, 'model-00002-of-00002.safetensors')}: cannot open`));

  // Not JSON.
  writeFileSync(join(sharded, INDEX), '{"weight_map": ');
  error = t.throws(load, { instanceOf: ModelLoadError });
  t.true(error!.message.includes(join(sharded, INDEX)));
});
