/**
 * The workload's FLOPs from unpadded token lengths: 2 x (weights of the encoder's linear layers) per
 * token, plus 4 x L^2 x hidden per sequence and layer for attention (Q K^T and P V), plus the pooler
 * and classifier once per pair. Biases, LayerNorm, GELU and softmax are not counted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface WorkloadFlops {
  pairs: number;
  tokens: number;
  maxLength: number;
  linear: number;
  attention: number;
  head: number;
  total: number;
  perPair: number;
  /**
   * Of `total`, what crossrank does not compute: its last layer queries and carries only the [CLS]
   * row (Q, attention output and FFN for one row per pair; K and V still for every token).
   */
  skippedByCrossrank: number;
}

const cache = new Map<number, WorkloadFlops>();

export async function workloadFlops(repo: string, modelDir: string, dataPath: string, queries: number, maxLength: number): Promise<WorkloadFlops> {
  const cached = cache.get(queries);
  if (cached) return cached;
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, number>;
  const hidden = config['hidden_size']!;
  const layers = config['num_hidden_layers']!;
  const intermediate = config['intermediate_size']!;
  const labels = Object.keys((config as unknown as { id2label?: object }).id2label ?? { 0: '' }).length;
  // Per layer: fused QKV (3 h^2), attention output (h^2), FFN up and down (2 h i).
  const linearWeights = layers * (4 * hidden * hidden + 2 * hidden * intermediate);
  const headWeights = hidden * hidden + hidden * labels;

  // Token lengths exactly as crossrank (and the ORT contenders) tokenise the pairs.
  const native = (await import(pathToFileURL(join(repo, 'dist', 'lib', 'native.js')).href)) as {
    tokenizerAddon(): { Tokenizer: { fromDir(dir: string): { tokenizePairs(a: string[], b: string[], max: number, t: string): { lengths: Uint32Array } } } };
  };
  const tokenizer = native.tokenizerAddon().Tokenizer.fromDir(modelDir);
  const data = JSON.parse(readFileSync(dataPath, 'utf8')) as { query: string; hits: { content: string }[] }[];
  let pairs = 0;
  let tokens = 0;
  let longest = 0;
  let squares = 0;
  let skippedRows = 0; // tokens after [CLS]
  let skippedScores = 0; // query-key pairs not scored in the last layer
  for (const entry of data.slice(0, queries)) {
    const { lengths } = tokenizer.tokenizePairs(entry.hits.map(() => entry.query), entry.hits.map((h) => h.content), maxLength, 'longest_first');
    for (const length of lengths) {
      pairs++;
      tokens += length;
      squares += length * length;
      skippedRows += length - 1;
      skippedScores += length * length - length;
      longest = Math.max(longest, length);
    }
  }
  const linear = 2 * linearWeights * tokens;
  const attention = 4 * squares * hidden * layers;
  const head = 2 * headWeights * pairs;
  const total = linear + attention + head;
  const skippedByCrossrank = 2 * (2 * hidden * hidden + 2 * hidden * intermediate) * skippedRows + 4 * skippedScores * hidden;
  const result = { pairs, tokens, maxLength: longest, linear, attention, head, total, perPair: total / pairs, skippedByCrossrank };
  cache.set(queries, result);
  return result;
}
