/**
 * End-to-end bench: rerank each TREC DL 2020 query's BM25 top-100 with the MiniLM-L6 cross-encoder,
 * once per contender, each in a fresh process with the same pairs, weights and thread count.
 * Writes bench/results/e2e.{json,md,svg} and prints the Markdown table.
 *
 *   npx tsx bench/run.ts [--queries N] [--only name1,name2] [--threads 2] [--pytorch-queries N]
 *                        [--kernel-json bench/results/kernels.json] [--model minilm|bge-base]
 *
 * --model bge-base runs the same contenders on a random-weight model of bge-reranker-base's shape
 * (XLM-RoBERTa, 12 layers, hidden 768; written by npm run bench:prepare-bge) and writes
 * bench/results/e2e-bge-base.{json,md,svg}. Its weights are random, so its logits mean nothing: the
 * gates still compare every contender with crossrank fp32, but int8/bf16 ranking quality on it is
 * reported, not enforced.
 *
 * --only takes groups (crossrank, ort, tjs, pytorch, openvino) or run ids (ort-opt-sorted32, ...).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { contenders, type Contender } from './e2e/contenders.js';
import { checkAgainstReference, checkQuantized, type GateResult } from './e2e/gate.js';
import { workloadFlops } from './e2e/flops.js';
import { barChartSvg } from './e2e/svg.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(REPO, 'bench', 'results');
// CROSSRANK_SHARED_DATA as in the tests (test/helpers/fixtures.ts), for a checkout not beside ../shared.
const DATA = join(process.env['CROSSRANK_SHARED_DATA'] ?? join(REPO, '..', 'shared', 'data'), 'trec-dl20', 'retrieve_results_dl20.json');

interface BenchModel {
  /** Hugging Face folder crossrank and the tokenizers read. */
  dir: string;
  /** How to make `dir` when it is missing. */
  prepare: string;
  description: string;
  /** Suffix of the result files (e2e<suffix>.json). */
  resultSuffix: string;
  /** Random weights: int8/bf16 ranking quality is not a finding about crossrank. */
  randomWeights: boolean;
}
const MODELS: Record<string, BenchModel> = {
  minilm: {
    dir: join(REPO, '.cache', 'models', 'minilm-l6-cross-encoder'),
    prepare: 'npm run fetch-models',
    description: 'MiniLM-L6-H384 cross-encoder (fp32)',
    resultSuffix: '',
    randomWeights: false,
  },
  'bge-base': {
    dir: join(REPO, '.cache', 'models', 'bge-reranker-base-counter'),
    prepare: 'npm run bench:prepare-bge',
    description:
      "random-weight model of bge-reranker-base's shape (XLM-RoBERTa, 12 layers, hidden 768, 12 heads, intermediate 3072, 2,000-entry XLM-R tokenizer; fp32)",
    resultSuffix: '-bge-base',
    randomWeights: true,
  },
};
const PYTHON = join(REPO, '.cache', 'venv', 'bin', 'python');
const MAX_LENGTH = 512;

interface Options {
  queries: number;
  only: string[] | null;
  threads: number;
  pytorchQueries: number;
  kernelJson: string;
  model: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    queries: 54,
    only: null,
    threads: 2,
    pytorchQueries: 1,
    kernelJson: join(RESULTS, 'kernels.json'),
    model: 'minilm',
  };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    const need = (): string => {
      if (value === undefined) throw new Error(`${argv[i]} needs a value`);
      i++;
      return value;
    };
    switch (argv[i]) {
      case '--queries': options.queries = Number(need()); break;
      case '--only': options.only = need().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--threads': options.threads = Number(need()); break;
      case '--pytorch-queries': options.pytorchQueries = Number(need()); break;
      case '--kernel-json': options.kernelJson = need(); break;
      case '--model': options.model = need(); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/run.ts)`);
    }
  }
  if (!(options.model in MODELS)) throw new Error(`--model ${options.model}: expected one of ${Object.keys(MODELS).join(', ')}`);
  return options;
}

interface Peak {
  singleCore: number;
  allCore: number;
  source: string;
}

/** The FMA peak: from the kernel bench's JSON when present, else from bench/e2e/fma_peak.cc. */
function measurePeak(kernelJson: string): Peak {
  if (existsSync(kernelJson)) {
    const peak = (JSON.parse(readFileSync(kernelJson, 'utf8')) as { peak_gflops?: { one_thread?: number; all_threads?: number } })
      .peak_gflops;
    if (peak?.one_thread && peak.all_threads) {
      return { singleCore: peak.one_thread, allCore: peak.all_threads, source: `${kernelJson} (kernel bench)` };
    }
  }
  const binary = join(REPO, 'build', 'bench-e2e', 'fma_peak');
  mkdirSync(dirname(binary), { recursive: true });
  const source = join(REPO, 'bench', 'e2e', 'fma_peak.cc');
  const compile = spawnSync('g++', ['-O3', '-mavx2', '-mfma', '-pthread', source, '-o', binary], { encoding: 'utf8' });
  if (compile.status !== 0) throw new Error(`cannot build ${source}:\n${compile.stderr}`);
  const run = spawnSync(binary, { encoding: 'utf8' });
  const peak = (JSON.parse(run.stdout) as { fma_peak_gflops: { single_core: number; all_core: number } }).fma_peak_gflops;
  return { singleCore: peak.single_core, allCore: peak.all_core, source: 'bench/e2e/fma_peak.cc' };
}

interface RunOutput {
  totalMs: number;
  latenciesMs: number[];
  logits: number[];
  loadMs: number;
  peakRssMB: number;
  settings: Record<string, unknown>;
  skipped?: string;
}

function runContender(contender: Contender, baseArgs: string[]): RunOutput | { skipped: string } {
  const [command, ...args] = contender.command;
  if (command === PYTHON && !existsSync(PYTHON)) return { skipped: `${PYTHON} not found (run bash scripts/setup-python.sh)` };
  const child = spawnSync(command!, [...args, ...baseArgs], { cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (child.status !== 0) {
    return { skipped: `exit ${child.status}: ${(child.stderr || child.stdout).trim().split('\n').slice(-5).join(' | ')}` };
  }
  const last = child.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as RunOutput;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

interface Row {
  id: string;
  group: Contender['group'];
  contender: string;
  mode: string;
  queries: number;
  pairs: number;
  pairsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  peakRssMB: number;
  loadMs: number;
  gate: GateResult | null;
  fractionOfCeiling: number;
  settings: Record<string, unknown>;
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function markdownTable(rows: Row[], reference: Row | undefined): string {
  const lines = [
    '| contender | mode | pairs/s | crossrank / this | p50 ms | p95 ms | peak RSS MB | load ms | max abs logit diff (int8, bf16: mean Spearman vs crossrank fp32 too) | of ceiling |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const ratio = reference ? reference.pairsPerSecond / row.pairsPerSecond : NaN;
    const spearman = row.gate?.meanSpearman === undefined ? '' : `Spearman ${row.gate.meanSpearman.toFixed(4)}, `;
    const gate = row.gate === null ? 'reference' : `${spearman}${row.gate.maxAbsDiff.toExponential(1)}${row.gate.passed ? '' : row.gate.meanSpearman === undefined ? ' **FAILED**' : ' (under its quality bar)'}`;
    const queries = row.queries === (reference?.queries ?? row.queries) ? '' : ` (${row.queries} queries)`;
    lines.push(
      `| ${row.contender}${row.gate && !row.gate.passed ? (row.gate.meanSpearman === undefined ? ' **FAILED**' : ' (under its quality bar)') : ''} | ${row.mode}${queries} | ${fixed(row.pairsPerSecond, 1)} | ${fixed(ratio, 2)}x | ${fixed(row.p50Ms, 0)} | ${fixed(row.p95Ms, 0)} | ${fixed(row.peakRssMB, 0)} | ${fixed(row.loadMs, 0)} | ${gate} | ${fixed(100 * row.fractionOfCeiling, 1)} % |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const benchModel = MODELS[options.model]!;
  const modelDir = benchModel.dir;
  const onnxDir = join(REPO, '.cache', 'onnx', basename(modelDir));
  for (const [what, path] of [['crossrank build (npm run build)', join(REPO, 'dist', 'lib', 'index.js')], [`model (${benchModel.prepare})`, modelDir], ['data', DATA]] as const) {
    if (!existsSync(path)) throw new Error(`missing ${what}: ${path}`);
  }
  const selected = contenders({ repo: REPO, python: PYTHON, onnxDir, pytorchQueries: options.pytorchQueries }).filter(
    (c) => options.only === null || options.only.includes(c.group) || options.only.includes(c.id),
  );
  if (selected.length === 0) throw new Error(`--only ${options.only?.join(',')} matches no contender`);

  if (selected.some((c) => c.needsOnnx)) {
    if (existsSync(PYTHON)) {
      const exported = spawnSync(PYTHON, [join(REPO, 'scripts', 'export-onnx.py'), '--model', modelDir, '--out', onnxDir], { cwd: REPO, encoding: 'utf8' });
      if (exported.status !== 0) throw new Error(`scripts/export-onnx.py failed:\n${exported.stderr}`);
      if (selected.some((c) => c.needsOnnx && c.quantized)) {
        const quantized = spawnSync(PYTHON, [join(REPO, 'scripts', 'quantize-onnx.py'), '--out', onnxDir], { cwd: REPO, encoding: 'utf8' });
        if (quantized.status !== 0) throw new Error(`scripts/quantize-onnx.py failed:\n${quantized.stderr}`);
      }
    } else if (!existsSync(join(onnxDir, 'export.json'))) {
      console.log(`notice: no ${PYTHON} and no ONNX export: skipping onnxruntime-node and transformers.js (run bash scripts/setup-python.sh)`);
    }
  }

  const load = loadavg()[0]!;
  const peak = measurePeak(options.kernelJson);
  console.log(`FMA peak: ${peak.singleCore.toFixed(1)} GFLOP/s one core, ${peak.allCore.toFixed(1)} all cores (${peak.source}); load average ${load.toFixed(2)}`);

  const flops = await workloadFlops(REPO, modelDir, DATA, options.queries, MAX_LENGTH);
  let ceilingPairsPerSecond = (peak.singleCore * 1e9 * options.threads) / flops.perPair;
  console.log(
    `workload: ${options.queries} queries, ${flops.pairs} pairs, ${flops.tokens} tokens (mean ${(flops.tokens / flops.pairs).toFixed(1)}, max ${flops.maxLength}); ` +
      `${(flops.total / 1e12).toFixed(3)} TFLOP (${(flops.perPair / 1e9).toFixed(3)} GFLOP/pair, attention ${(100 * flops.attention / flops.total).toFixed(1)} %); ` +
      `ceiling ${ceilingPairsPerSecond.toFixed(1)} pairs/s at ${options.threads} x ${peak.singleCore.toFixed(1)} GFLOP/s`,
  );

  const pairsPerQuery = flops.pairs / options.queries;
  const pairsInFirst = (queries: number): number => Math.round(queries * pairsPerQuery);
  const rows: Row[] = [];
  const results: Record<string, unknown>[] = [];
  let referenceLogits: number[] | null = null;
  for (const contender of selected) {
    const queries = Math.min(options.queries, contender.maxQueries ?? options.queries);
    const baseArgs = ['--data', DATA, '--model', modelDir, '--queries', String(queries), '--threads', String(options.threads), '--max-length', String(MAX_LENGTH)];
    process.stdout.write(`running ${contender.id} (${queries} queries)... `);
    const output = runContender(contender, baseArgs);
    if ('skipped' in output && output.skipped) {
      console.log(`skipped: ${output.skipped}`);
      results.push({ id: contender.id, skipped: output.skipped });
      continue;
    }
    const run = output as RunOutput;
    const pairs = run.logits.length;
    let gate: GateResult | null = null;
    if (contender.id === 'crossrank') referenceLogits = run.logits;
    // A run capped to fewer queries is checked against the same first queries of the reference.
    else if (referenceLogits) {
      const expected = referenceLogits.slice(0, pairsInFirst(queries));
      gate = contender.quantized
        ? checkQuantized(expected, run.logits, 100, contender.minSpearman)
        : checkAgainstReference(expected, run.logits, 100);
    }
    const flopsRun = await workloadFlops(REPO, modelDir, DATA, queries, MAX_LENGTH);
    const row: Row = {
      id: contender.id,
      group: contender.group,
      contender: contender.name,
      mode: contender.mode,
      queries,
      pairs,
      pairsPerSecond: pairs / (run.totalMs / 1000),
      p50Ms: percentile(run.latenciesMs, 50),
      p95Ms: percentile(run.latenciesMs, 95),
      peakRssMB: run.peakRssMB,
      loadMs: run.loadMs,
      gate,
      fractionOfCeiling: (flopsRun.total / (run.totalMs / 1000)) / (peak.singleCore * 1e9 * options.threads),
      settings: run.settings,
    };
    rows.push(row);
    console.log(`${row.pairsPerSecond.toFixed(1)} pairs/s${gate ? `, max |diff| ${gate.maxAbsDiff.toExponential(2)}${gate.passed ? '' : ` FAILED: ${gate.reason}`}` : ''}`);
    results.push({ ...row, latenciesMs: run.latenciesMs });
  }

  const reference = rows.find((r) => r.id === 'crossrank');
  if (!peak.source.includes('kernel bench')) {
    // A shared machine lowers a measured peak; the better of the measurements before and after is kept.
    const after = measurePeak(options.kernelJson);
    console.log(`FMA peak again after the runs: ${after.singleCore.toFixed(1)} GFLOP/s one core`);
    if (after.singleCore > peak.singleCore) {
      const scale = peak.singleCore / after.singleCore;
      for (const row of rows) row.fractionOfCeiling *= scale;
      ceilingPairsPerSecond /= scale;
      Object.assign(peak, after);
    }
  }
  if (!reference) console.log('notice: crossrank was not run, so there is no correctness gate and no ratio');
  let table = markdownTable(rows, reference);
  const int8 = rows.find((r) => r.id === 'crossrank-int8');
  if (int8) {
    // Ratios for the int8 issue: against crossrank fp32 and the fastest onnxruntime-node int8 run.
    const ortInt8 = rows.filter((r) => r.group === 'ort' && r.gate?.meanSpearman !== undefined).sort((a, b) => b.pairsPerSecond - a.pairsPerSecond)[0];
    const lines = [`crossrank int8: ${int8.pairsPerSecond.toFixed(1)} pairs/s`];
    if (reference) lines.push(`${(int8.pairsPerSecond / reference.pairsPerSecond).toFixed(2)}x crossrank fp32 (${reference.pairsPerSecond.toFixed(1)})`);
    if (ortInt8) lines.push(`${(int8.pairsPerSecond / ortInt8.pairsPerSecond).toFixed(2)}x the fastest onnxruntime-node int8 run (${ortInt8.contender}, ${ortInt8.pairsPerSecond.toFixed(1)})`);
    table += `\n\n${lines.join('; ')}.`;
  }
  const openvinoDefault = rows.find((r) => r.id === 'openvino-default');
  if (openvinoDefault) {
    // Issue 17's goal: crossrank's fastest dtype that passes its quality gate against OpenVINO's default.
    const lines = rows
      .filter((r) => r.group === 'crossrank')
      .map((r) => `${r.contender}${r.gate && !r.gate.passed ? ' (fails its quality gate)' : ''}: ${(r.pairsPerSecond / openvinoDefault.pairsPerSecond).toFixed(2)}x`);
    const precision = String(openvinoDefault.settings['inference_precision'] ?? '?');
    table += `\n\nAgainst OpenVINO's default (${precision}, ${openvinoDefault.pairsPerSecond.toFixed(1)} pairs/s): ${lines.join('; ')}.`;
  }
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load average ${load.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`;
  const header = [
    `Workload: TREC DL 2020, ${options.queries} queries x BM25 top-100, ${benchModel.description}, max length ${MAX_LENGTH}, ${options.threads} threads each.`,
    `FLOPs: ${(flops.total / 1e12).toFixed(3)} TFLOP over ${flops.tokens} tokens; ceiling ${ceilingPairsPerSecond.toFixed(1)} pairs/s (${options.threads} x ${peak.singleCore.toFixed(1)} GFLOP/s FMA peak from ${peak.source}).`,
    `crossrank computes ${(((flops.total - flops.skippedByCrossrank) / flops.total) * 100).toFixed(1)} % of these FLOPs: its last layer carries only the [CLS] row that the classifier reads (same logits); the fractions of the ceiling below count the whole workload for every contender.`,
    `Machine: ${machine}. Node ${process.version}.`,
  ];
  const markdown = `${header.join('\n\n')}\n\n${table}\n`;
  mkdirSync(RESULTS, { recursive: true });
  const suffix = benchModel.resultSuffix;
  writeFileSync(join(RESULTS, `e2e${suffix}.md`), markdown);
  writeFileSync(
    join(RESULTS, `e2e${suffix}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), machine, options, peak, flops, ceilingPairsPerSecond, results }, null, 2)}\n`,
  );
  writeFileSync(join(RESULTS, `e2e${suffix}.svg`), barChartSvg(rows.map((r) => ({ label: `${r.contender} — ${r.mode}`, value: r.pairsPerSecond, failed: r.gate ? !r.gate.passed : false })), ceilingPairsPerSecond));
  console.log(`\n${markdown}`);
  console.log(`wrote ${join('bench', 'results', `e2e${suffix}.{json,md,svg}`)}`);
  // A peer's int8 graph under the int8 quality bar is a finding about that peer, not a bench failure.
  const fails = (r: Row): boolean =>
    r.gate !== null &&
    !r.gate.passed &&
    (r.gate.meanSpearman === undefined || (!benchModel.randomWeights && (r.id === 'crossrank-int8' || r.id === 'crossrank-bf16')));
  if (rows.some(fails)) process.exitCode = 1;
}

await main();
