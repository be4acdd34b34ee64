/** Every contender run of the e2e bench: one child process each, printing one JSON line. */
import { join } from 'node:path';

export interface Contender {
  /** Unique run id, usable in --only. */
  id: string;
  /** Group name, usable in --only for all its runs. */
  group: 'crossrank' | 'ort' | 'tjs' | 'pytorch' | 'openvino';
  name: string;
  mode: string;
  command: string[];
  needsOnnx: boolean;
  /** Cap on queries for a contender too slow to run the whole workload here. */
  maxQueries?: number;
  /** int8 and bf16: gated on ranking quality against crossrank fp32 instead of logit equality. */
  quantized?: boolean;
  /** The mean Spearman a quantized run must reach (default the int8 bar). */
  minSpearman?: number;
}

/** bf16's quality bar (issue 17, as OpenVINO's bf16 reaches): mean Spearman vs fp32. */
export const BF16_MIN_MEAN_SPEARMAN = 0.999;

interface Paths {
  repo: string;
  python: string;
  onnxDir: string;
  pytorchQueries: number;
}

export function contenders({ repo, python, onnxDir, pytorchQueries }: Paths): Contender[] {
  const script = (name: string): string => join(repo, 'bench', 'e2e', name);
  const ort = (id: string, graph: 'plain' | 'optimized', batch: string, sorted: boolean, mode: string, int8 = false): Contender => ({
    id,
    group: 'ort',
    name: `${graph === 'plain' ? 'onnxruntime-node' : 'onnxruntime-node (optimised graph)'}${int8 ? ' int8' : ''}`,
    mode,
    command: [
      process.execPath,
      script('ort.mjs'),
      '--onnx',
      join(onnxDir, `${graph === 'plain' ? 'model' : 'model-optimized'}${int8 ? '-int8' : ''}.onnx`),
      '--batch',
      batch,
      '--sorted',
      sorted ? '1' : '0',
    ],
    needsOnnx: true,
    ...(int8 ? { quantized: true } : {}),
  });
  const tjs = (id: string, batch: string, sorted: boolean, mode: string): Contender => ({
    id,
    group: 'tjs',
    name: 'transformers.js',
    mode,
    command: [process.execPath, script('transformersjs.mjs'), '--dir', join(onnxDir, 'transformersjs'), '--batch', batch, '--sorted', sorted ? '1' : '0'],
    needsOnnx: true,
  });
  // OpenVINO's default precision is bf16 where the CPU has it natively, so it is gated as bf16.
  const openvino = (id: string, precision: 'default' | 'f32', mode: string): Contender => ({
    id,
    group: 'openvino',
    name: `OpenVINO${precision === 'f32' ? ' f32' : ' (default precision)'}`,
    mode,
    command: [python, script('openvino_bench.py'), '--onnx', join(onnxDir, 'model.onnx'), '--precision', precision],
    needsOnnx: true,
    ...(precision === 'default' ? { quantized: true, minSpearman: BF16_MIN_MEAN_SPEARMAN } : {}),
  });
  const pytorch = (id: string, sorted: boolean, mode: string): Contender => ({
    id,
    group: 'pytorch',
    name: 'sentence-transformers (PyTorch)',
    mode,
    command: [python, script('pytorch_bench.py'), '--sorted', sorted ? '1' : '0'],
    needsOnnx: false,
    maxQueries: pytorchQueries,
  });
  return [
    {
      id: 'crossrank',
      group: 'crossrank',
      name: 'crossrank',
      mode: 'predict(100 pairs): packed, length-sorted',
      command: [process.execPath, script('crossrank.mjs')],
      needsOnnx: false,
    },
    {
      id: 'crossrank-int8',
      group: 'crossrank',
      name: 'crossrank int8',
      mode: 'predict(100 pairs), dtype int8 (quantised at load)',
      command: [process.execPath, script('crossrank.mjs'), '--dtype', 'int8'],
      needsOnnx: false,
      quantized: true,
    },
    {
      id: 'crossrank-bf16',
      group: 'crossrank',
      name: 'crossrank bf16',
      mode: 'predict(100 pairs), dtype bf16 (rounded at load)',
      command: [process.execPath, script('crossrank.mjs'), '--dtype', 'bf16'],
      needsOnnx: false,
      quantized: true,
      minSpearman: BF16_MIN_MEAN_SPEARMAN,
    },
    {
      // bf16 with attention on bf16 too (opt-in), beside the run above (fp32 attention), to show what it gains.
      id: 'crossrank-bf16-attention',
      group: 'crossrank',
      name: 'crossrank bf16 (bf16 attention)',
      mode: 'predict(100 pairs), dtype bf16, CROSSRANK_BF16_ATTENTION=1',
      command: [process.execPath, script('crossrank.mjs'), '--dtype', 'bf16', '--bf16-attention', 'on'],
      needsOnnx: false,
      quantized: true,
      minSpearman: BF16_MIN_MEAN_SPEARMAN,
    },
    {
      // The AVX2 int8 kernel forced, beside the VNNI one above where the CPU has it.
      id: 'crossrank-int8-avx2',
      group: 'crossrank',
      name: 'crossrank int8 (AVX2 kernel)',
      mode: 'predict(100 pairs), dtype int8, CROSSRANK_ISA=avx2',
      command: [process.execPath, script('crossrank.mjs'), '--dtype', 'int8', '--isa', 'avx2'],
      needsOnnx: false,
      quantized: true,
    },
    ort('ort-plain-all', 'plain', 'all', false, '(a) one padded call of 100'),
    ort('ort-plain-input32', 'plain', '32', false, '(b) input-order batches of 32'),
    ort('ort-plain-sorted32', 'plain', '32', true, '(c) length-sorted batches of 32'),
    ort('ort-opt-all', 'optimized', 'all', false, '(a) one padded call of 100'),
    ort('ort-opt-sorted32', 'optimized', '32', true, '(c) length-sorted batches of 32'),
    // quantize_dynamic of the same two graphs (scripts/quantize-onnx.py), in ORT's best mode.
    ort('ort-int8-sorted32', 'plain', '32', true, '(c) length-sorted batches of 32', true),
    ort('ort-opt-int8-sorted32', 'optimized', '32', true, '(c) length-sorted batches of 32', true),
    openvino('openvino-default', 'default', 'length-sorted batches of 32, default precision'),
    openvino('openvino-f32', 'f32', 'length-sorted batches of 32, INFERENCE_PRECISION_HINT f32'),
    tjs('tjs-all', 'all', false, '(a) one padded call of 100'),
    tjs('tjs-sorted32', '32', true, '(b) length-sorted batches of 32'),
    pytorch('pytorch-input32', false, '(a) predict(batch_size=32), input order'),
    pytorch('pytorch-sorted32', true, '(b) length-sorted batches of 32'),
  ];
}
