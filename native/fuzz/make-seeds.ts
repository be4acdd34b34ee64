/**
 * Writes the seed corpora in native/fuzz/corpus/<target>/ (committed; rerun
 * with `npx tsx native/fuzz/make-seeds.ts` after changing a fuzz target's
 * input format). Seeds are small valid inputs plus a few near misses, so the
 * fuzzers start from the interesting paths rather than from nothing.
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { encodeSafetensors } from '../../test/helpers/safetensors.js';
import { repoRoot, tinyDir } from '../../test/helpers/fixtures.js';

const corpus = join(repoRoot, 'native', 'fuzz', 'corpus');

function writeSeeds(target: string, seeds: Record<string, Buffer | string>): void {
  const dir = join(corpus, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(seeds)) writeFileSync(join(dir, name), content);
}

// --- safetensors_fuzz: the model of seed_model_config() in safetensors_fuzz.cc.
const hidden = 4;
const inter = 8;
const shapes: Record<string, number[]> = {
  'bert.embeddings.word_embeddings.weight': [8, hidden],
  'bert.embeddings.position_embeddings.weight': [8, hidden],
  'bert.embeddings.token_type_embeddings.weight': [2, hidden],
  'bert.embeddings.LayerNorm.weight': [hidden],
  'bert.embeddings.LayerNorm.bias': [hidden],
};
for (const part of ['query', 'key', 'value']) {
  shapes[`bert.encoder.layer.0.attention.self.${part}.weight`] = [hidden, hidden];
  shapes[`bert.encoder.layer.0.attention.self.${part}.bias`] = [hidden];
}
Object.assign(shapes, {
  'bert.encoder.layer.0.attention.output.dense.weight': [hidden, hidden],
  'bert.encoder.layer.0.attention.output.dense.bias': [hidden],
  'bert.encoder.layer.0.attention.output.LayerNorm.weight': [hidden],
  'bert.encoder.layer.0.attention.output.LayerNorm.bias': [hidden],
  'bert.encoder.layer.0.intermediate.dense.weight': [inter, hidden],
  'bert.encoder.layer.0.intermediate.dense.bias': [inter],
  'bert.encoder.layer.0.output.dense.weight': [hidden, inter],
  'bert.encoder.layer.0.output.dense.bias': [hidden],
  'bert.encoder.layer.0.output.LayerNorm.weight': [hidden],
  'bert.encoder.layer.0.output.LayerNorm.bias': [hidden],
  'bert.pooler.dense.weight': [hidden, hidden],
  'bert.pooler.dense.bias': [hidden],
  'classifier.weight': [1, hidden],
  'classifier.bias': [1],
});

function seedModel(dtype: 'F32' | 'F16' | 'BF16'): Buffer {
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * width;
    // 1.0 in each format, so any accepted file is a valid model.
    const one = dtype === 'F32' ? [0, 0, 0x80, 0x3f] : dtype === 'F16' ? [0, 0x3c] : [0x80, 0x3f];
    chunks.push(Buffer.from(Array.from({ length: bytes }, (_, i) => one[i % width]!)));
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return encodeSafetensors(header, Buffer.concat(chunks));
}

const f32 = seedModel('F32');
writeSeeds('safetensors_fuzz', {
  'model-f32.safetensors': f32,
  'model-f16.safetensors': seedModel('F16'),
  'model-bf16.safetensors': seedModel('BF16'),
  'truncated.safetensors': f32.subarray(0, f32.length - 7),
  'empty-header.safetensors': encodeSafetensors({}, Buffer.alloc(0)),
  'overlap.safetensors': encodeSafetensors(
    {
      a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
      b: { dtype: 'I16', shape: [2], data_offsets: [2, 6] },
      e: { dtype: 'F64', shape: [0, 3], data_offsets: [6, 6] },
    },
    Buffer.alloc(6),
  ),
});

// --- config_fuzz: real configs and near misses.
writeSeeds('config_fuzz', {
  'minimal.json': JSON.stringify({ model_type: 'bert', hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8, vocab_size: 8 }),
  'labels.json': JSON.stringify({
    model_type: 'bert', architectures: ['BertForSequenceClassification'], hidden_size: 384, num_hidden_layers: 6,
    num_attention_heads: 12, intermediate_size: 1536, vocab_size: 30522, layer_norm_eps: 1e-12,
    id2label: { 0: 'LABEL_0' }, sentence_transformers: { activation_fn: 'torch.nn.modules.activation.Sigmoid' },
  }),
  'escapes.json': '{"model_type": "b\\u0065rt", "hidden_size": 4e0, "x": [1, -2.5e-3, true, false, null, "\\ud83d\\ude00"]}',
  'bad-heads.json': '{"model_type":"bert","hidden_size":6,"num_hidden_layers":1,"num_attention_heads":4,"intermediate_size":8,"vocab_size":8}',
});
copyFileSync(join(tinyDir, 'config.json'), join(corpus, 'config_fuzz', 'tiny.json'));

// --- engine_batch_fuzz: the byte format LLVMFuzzerTestOneInput decodes:
// flags, sequence count, u8 lengths (255 then u8: 505 + it % 16), u16 ids, u8 type ids.
function batchSeed(flags: number, lengths: number[], ids: number[], types: number[]): Buffer {
  const out = [flags, lengths.length];
  for (const length of lengths) out.push(...(length < 255 ? [length] : [255, length - 505]));
  for (const id of ids) out.push(id & 0xff, id >> 8);
  out.push(...types);
  return Buffer.from(out);
}
writeSeeds('engine_batch_fuzz', {
  'two-pairs': batchSeed(0, [5, 4], [101, 7592, 102, 2088, 102, 101, 102, 1037, 102], [0, 0, 0, 1, 1, 0, 0, 1, 1]),
  'empty-batch': batchSeed(0, [], [], []),
  'longest': batchSeed(0, [512], Array.from({ length: 512 }, (_, i) => (i * 37) % 30522), Array.from({ length: 512 }, (_, i) => (i < 256 ? 0 : 1))),
  'vocab-edge': batchSeed(0, [3], [0x8000 | 3, 0x8000 | 4, 0xffff], [0, 1, 250]),
  'zero-length': batchSeed(0, [0, 2], [101, 102], [0, 0]),
  'mismatched': batchSeed(3, [3], [101, 5, 102], [0, 0, 0]),
});
