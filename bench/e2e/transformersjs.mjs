// transformers.js (@huggingface/transformers) as its users run it: AutoTokenizer + AutoModelForSequenceClassification
// on a local folder (config.json, tokenizer files, onnx/model.onnx), padded batches.
//   --dir DIR       the transformers.js folder made by scripts/export-onnx.py
//   --batch N|all   pairs per model call (all = the query's 100 pairs in one call)
//   --sorted 0|1    length-sort the pairs before cutting batches (results are put back in input order)
// In Node it runs onnxruntime-node; session_options is passed through to InferenceSession.create,
// so the thread counts are set there (env.backends.onnx.wasm.numThreads applies to the web backend only).
import { basename, dirname } from 'node:path';

import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';

import { chunk, emit, loadWorkload, order, parseArgs, performance, timeWorkload } from './common.mjs';

const args = parseArgs();
const workload = loadWorkload(args.data, args.queries);
const sorted = args.sorted === '1';

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = `${dirname(args.dir)}/`;
const modelId = basename(args.dir);
const sessionOptions = { intraOpNumThreads: args.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };

const t0 = performance.now();
const tokenizer = await AutoTokenizer.from_pretrained(modelId);
const model = await AutoModelForSequenceClassification.from_pretrained(modelId, {
  dtype: 'fp32',
  device: 'cpu',
  session_options: sessionOptions,
});
const loadMs = performance.now() - t0;

async function scoreQuery(pairs) {
  const scores = new Float32Array(pairs.length);
  let indices = Array.from(pairs, (_, i) => i);
  if (sorted) {
    // Users who sort do it on token counts from the same tokenizer; that pass is part of the request.
    const lengths = pairs.map(([a, b]) => tokenizer(a, { text_pair: b, truncation: true, max_length: args.maxLength }).input_ids.dims[1]);
    indices = order(lengths, true);
  }
  const batchSize = args.batch === 'all' ? pairs.length : Number(args.batch);
  for (const batch of chunk(indices, batchSize)) {
    const inputs = tokenizer(
      batch.map((i) => pairs[i][0]),
      { text_pair: batch.map((i) => pairs[i][1]), padding: true, truncation: true, max_length: args.maxLength },
    );
    const { logits } = await model(inputs);
    batch.forEach((pair, row) => {
      scores[pair] = logits.data[row];
    });
  }
  return scores;
}

const run = await timeWorkload(workload, scoreQuery);
emit({
  ...run,
  loadMs,
  settings: { transformersjs: env.version, backend: 'onnxruntime-node', sessionOptions, batch: args.batch, sorted },
});
await model.dispose();
