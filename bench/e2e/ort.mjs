// onnxruntime-node on the exported graph, fed padded batches with attention masks as its users do.
//   --onnx FILE     model.onnx or model-optimized.onnx
//   --batch N|all   pairs per session.run (all = the query's 100 pairs in one call)
//   --sorted 0|1    length-sort the pairs before cutting batches (results are put back in input order)
// Tokenisation uses crossrank's Rust tokenizer (same ids as crossrank, and the fastest tokenizer
// available to Node), so the comparison is about the inference engine.
import ort from 'onnxruntime-node';

import { tokenizerAddon } from '../../dist/lib/native.js';
import { chunk, emit, loadWorkload, order, parseArgs, performance, timeWorkload } from './common.mjs';

const args = parseArgs();
const workload = loadWorkload(args.data, args.queries);
const sorted = args.sorted === '1';

const t0 = performance.now();
const session = await ort.InferenceSession.create(args.onnx, {
  intraOpNumThreads: args.threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const tokenizer = tokenizerAddon().Tokenizer.fromDir(args.model);
const loadMs = performance.now() - t0;

/** Pads the chosen pairs to the longest among them: int64 ids, mask and type ids of shape [b, L]. */
function paddedFeeds(encoded, offsets, indices) {
  let width = 0;
  for (const i of indices) width = Math.max(width, encoded.lengths[i]);
  const size = indices.length * width;
  const ids = new BigInt64Array(size);
  const mask = new BigInt64Array(size);
  const types = new BigInt64Array(size);
  indices.forEach((pair, row) => {
    const base = row * width;
    for (let t = 0; t < encoded.lengths[pair]; t++) {
      ids[base + t] = BigInt(encoded.ids[offsets[pair] + t]);
      types[base + t] = BigInt(encoded.typeIds[offsets[pair] + t]);
      mask[base + t] = 1n;
    }
  });
  const dims = [indices.length, width];
  const all = {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', types, dims),
  };
  return Object.fromEntries(session.inputNames.map((name) => [name, all[name]]));
}

async function scoreQuery(pairs) {
  const encoded = tokenizer.tokenizePairs(
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
    args.maxLength,
    'longest_first',
  );
  const offsets = new Uint32Array(pairs.length);
  for (let i = 1; i < pairs.length; i++) offsets[i] = offsets[i - 1] + encoded.lengths[i - 1];
  const batchSize = args.batch === 'all' ? pairs.length : Number(args.batch);
  const scores = new Float32Array(pairs.length);
  for (const indices of chunk(order(encoded.lengths, sorted), batchSize)) {
    const { logits } = await session.run(paddedFeeds(encoded, offsets, indices));
    indices.forEach((pair, row) => {
      scores[pair] = logits.data[row];
    });
  }
  return scores;
}

const run = await timeWorkload(workload, scoreQuery);
emit({
  ...run,
  loadMs,
  settings: {
    onnxruntime: ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown',
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    batch: args.batch,
    sorted,
  },
});
await session.release();
