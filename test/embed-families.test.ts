/**
 * SentenceEncoder on a bare XLM-RoBERTa encoder (XLMRobertaModel, no
 * classifier, no "roberta." prefix), as multilingual-e5 and bge-m3's dense
 * vectors ship: ids exact and mean-pooled embeddings against transformers
 * (goldens by scripts/make-bare-encoder-goldens.py).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { SentenceEncoder } from '../lib/index.js';
import { fixturesDir, readJson } from './helpers/fixtures.js';
import { bareEncoderCopy } from './helpers/safetensors.js';
import { HIDDEN_TOL } from './helpers/tolerances.js';

interface EmbedGoldens {
  cases: { text: string; ids: number[]; mean: number[] }[];
}


test('a bare XLM-RoBERTa encoder as a SentenceEncoder: ids exact, mean pooling as transformers', async (t) => {
  const goldens = readJson<EmbedGoldens>(join(fixturesDir, 'tiny-xlm-roberta-embed-goldens.json'));
  const dir = bareEncoderCopy(join(fixturesDir, 'tiny-xlm-roberta'), 'roberta.', ['XLMRobertaModel']);
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
