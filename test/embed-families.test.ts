/**
 * SentenceEncoder on a bare XLM-RoBERTa encoder (XLMRobertaModel, no
 * classifier, no "roberta." prefix), as multilingual-e5 and bge-m3's dense
 * vectors ship: ids exact and mean-pooled embeddings against transformers
 * (goldens by scripts/make-bare-encoder-goldens.py).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { SentenceEncoder } from '../lib/index.js';
import { fixturesDir, readJson } from './helpers/fixtures.js';
import { copyModel, readSafetensors, writeSafetensors } from './helpers/safetensors.js';
import { HIDDEN_TOL } from './helpers/tolerances.js';

interface EmbedGoldens {
  cases: { text: string; ids: number[]; mean: number[] }[];
}

/** tiny-xlm-roberta's encoder alone, laid out as a bare XLMRobertaModel checkpoint. */
function bareXlmRoberta(): string {
  const dir = copyModel(join(fixturesDir, 'tiny-xlm-roberta'));
  const file = readSafetensors(join(dir, 'model.safetensors'));
  const tensors: typeof file.tensors = {};
  for (const [name, entry] of Object.entries(file.tensors)) {
    if (!name.startsWith('classifier.')) tensors[name.replace(/^roberta\./, '')] = entry;
  }
  writeSafetensors(join(dir, 'model.safetensors'), { ...file, tensors });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['XLMRobertaModel'] }));
  return dir;
}

test('a bare XLM-RoBERTa encoder as a SentenceEncoder: ids exact, mean pooling as transformers', async (t) => {
  const goldens = readJson<EmbedGoldens>(join(fixturesDir, 'tiny-xlm-roberta-embed-goldens.json'));
  const dir = bareXlmRoberta();
  const model = SentenceEncoder.load(dir);
  try {
    t.is(model.config.pooling, 'mean');
    t.false(model.config.normalize);
    t.is(model.dimension, 36);
    const texts = goldens.cases.map((c) => c.text);
    const encoded = model.tokenize(texts);
    let offset = 0;
    for (const [i, c] of goldens.cases.entries()) {
      const length = encoded.lengths[i]!;
      t.deepEqual(Array.from(encoded.ids.subarray(offset, offset + length)), c.ids, `ids of ${JSON.stringify(c.text)}`);
      offset += length;
    }
    const embeddings = await model.embed(texts, { normalize: false });
    let maxDiff = 0;
    for (const [i, c] of goldens.cases.entries()) {
      for (const [j, expected] of c.mean.entries()) maxDiff = Math.max(maxDiff, Math.abs(embeddings[i * 36 + j]! - expected));
    }
    t.log(`${texts.length} texts, max |embedding - transformers| ${maxDiff.toExponential(2)}`);
    t.true(maxDiff <= HIDDEN_TOL, `max |diff| ${maxDiff}`);
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
