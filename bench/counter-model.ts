/**
 * Writes a random-weight XLM-RoBERTa cross-encoder with the 2,000-entry
 * tokenizer of test/fixtures/tiny-xlm-roberta, of one of two shapes:
 *   --shape large (default): bge-reranker-v2-m3's (24 layers, hidden 1024,
 *     16 heads, intermediate 4096, 8,194 positions), for bench/peak-rss.ts --long;
 *   --shape base: bge-reranker-base's (12 layers, hidden 768, 12 heads,
 *     intermediate 3072, 514 positions), for bench/run.ts --model bge-base.
 * The weights come from the counter generator of scripts/make-scale-goldens.py
 * (test/helpers/counter-weights.ts), and the tensor list is the
 * bge-reranker-base-shaped one of scale-goldens.json (every size scaled up for
 * large), so no torch is needed.
 *
 *   node --import=tsx bench/counter-model.ts --out DIR [--shape base|large]
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { writeCounterModel } from '../test/helpers/counter-weights.js';
import { fixturesDir, readJson } from '../test/helpers/fixtures.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, shape: { type: 'string', default: 'large' } } });
if (!values.out) throw new Error('usage: bench/counter-model.ts --out DIR [--shape base|large]');
if (values.shape !== 'base' && values.shape !== 'large') throw new Error(`--shape must be base or large, not ${values.shape}`);
const large = values.shape === 'large';

interface Family {
  tokenizerFrom: string;
  config: Record<string, unknown>;
  tensors: { name: string; shape: number[] }[];
}
const base = readJson<{ families: Record<string, Family> }>(join(fixturesDir, 'scale-goldens.json')).families['xlm-roberta']!;
const LAYERS = large ? 24 : 12;
// bge-reranker-base's sizes -> bge-reranker-v2-m3's (none for base).
const resize = new Map(large ? [[768, 1024], [3072, 4096], [514, 8194]] : []);
const config = large
  ? { ...base.config, num_hidden_layers: LAYERS, hidden_size: 1024, num_attention_heads: 16, intermediate_size: 4096, max_position_embeddings: 8194 }
  : base.config;
const tensors: { name: string; shape: number[] }[] = [];
for (const t of base.tensors) {
  const shape = t.shape.map((d) => resize.get(d) ?? d);
  const layer = /\.layer\.0\./.exec(t.name);
  if (/\.layer\.(\d+)\./.test(t.name) && !layer) continue; // layers 1-11: made from layer 0's list below
  if (layer) for (let l = 0; l < LAYERS; l++) tensors.push({ name: t.name.replace('.layer.0.', `.layer.${l}.`), shape });
  else tensors.push({ name: t.name, shape });
}

mkdirSync(values.out, { recursive: true });
for (const file of ['tokenizer.json', 'special_tokens_map.json']) {
  const source = join(fixturesDir, base.tokenizerFrom, file);
  if (existsSync(source)) cpSync(source, join(values.out, file));
}
const tokenizerConfig = JSON.parse(readFileSync(join(fixturesDir, base.tokenizerFrom, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
writeFileSync(join(values.out, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, model_max_length: large ? 8192 : 512 }, null, 2));
writeFileSync(join(values.out, 'config.json'), JSON.stringify(config, null, 2));
writeCounterModel(join(values.out, 'model.safetensors'), tensors);
const parameters = tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
console.log(`wrote ${values.out}: ${tensors.length} tensors, ${(parameters / 1e6).toFixed(1)}M parameters`);
