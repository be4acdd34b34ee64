/**
 * Finds and loads crossrank's two native parts: the C++ engine addon and the
 * Rust tokenizer. Each is looked for first as a local development build, then
 * as a prebuilt binary for this platform; when none loads, one error lists
 * every path tried and why it failed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { familySync, MUSL } from 'detect-libc';

import { NativeLoadError } from './errors.js';

const require = createRequire(import.meta.url);

export interface NativeModelConfig {
  modelType: string;
  architectures: string[];
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  vocabSize: number;
  typeVocabSize: number;
  maxPositionEmbeddings: number;
  /** The longest sequence the positions allow (RoBERTa's start at pad_token_id + 1). */
  maxSequenceLength: number;
  numLabels: number;
  layerNormEps: number;
  hiddenAct: string;
  weightsDtype: 'F32' | 'F16' | 'BF16';
  /** What the encoder's linear layers run in. */
  dtype: Dtype;
  /** Whether the pooler and classifier were loaded (false with encoderOnly). */
  hasClassifier: boolean;
}

export type Dtype = 'fp32' | 'int8' | 'bf16';

/** How a sequence's hidden states become one vector: its [CLS] row, or the mean of its rows. */
export type Pooling = 'cls' | 'mean';

export interface NativeModel {
  readonly config: NativeModelConfig;
  readonly threads: number;
  readonly disposed: boolean;
  run(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Promise<Float32Array>;
  runSync(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Float32Array;
  /** The pooler's output (tanh(dense([CLS]))), n x hiddenSize, on the calling thread. */
  pooledSync(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Float32Array;
  /** Each sequence's hidden states after `layer` (0: the embeddings), pooled; n x hiddenSize. */
  hidden(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array, layer: number, pooling: Pooling): Promise<Float32Array>;
  hiddenSync(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array, layer: number, pooling: Pooling): Float32Array;
  dispose(): void;
}

export interface CpuInfo {
  isa: string;
  brand: string;
  features: Record<string, boolean>;
  kernels: Record<string, string>;
  available: string[];
  /** Whether AMX can be used here, or which check (CPUID, XCR0, arch_prctl permission) failed. */
  amx: string;
}

interface EngineAddon {
  Model: new (modelDir: string, options?: { threads?: number; dtype?: Dtype; encoderOnly?: boolean }) => NativeModel;
  cpuInfo(): CpuInfo;
  quantizeModel(modelDir: string, outPath: string, dtype?: 'int8' | 'bf16'): void;
}

export interface EncodedPairs {
  ids: Uint32Array;
  typeIds: Uint8Array;
  lengths: Uint32Array;
}

/** Windows of documents beside one query, packed as pairs; windows of a document are consecutive. */
export interface EncodedWindows extends EncodedPairs {
  /** The document each window comes from. */
  documents: Uint32Array;
  /** Each window's span in its document, as string indices. */
  starts: Uint32Array;
  ends: Uint32Array;
  /** Document tokens per window; query tokens kept (at most half the room beside the special tokens). */
  windowTokens: number;
  queryTokens: number;
}

export type Truncation = 'longest_first' | 'only_second';

export interface NativeTokenizer {
  readonly source: string;
  readonly modelMaxLength: number | null;
  tokenizePairs(firsts: string[], seconds: string[], maxLength: number, truncation: Truncation): EncodedPairs;
  tokenizePairsAsync(
    firsts: string[],
    seconds: string[],
    maxLength: number,
    truncation: Truncation,
  ): Promise<EncodedPairs>;
  /**
   * The query with every window of every document (lib/windows.ts): each
   * document cut to maxTokensPerDoc tokens, then split into windows that fit
   * beside the query within maxLength, sharing `overlap` tokens.
   */
  tokenizeWindowsAsync(
    query: string,
    documents: string[],
    maxLength: number,
    maxTokensPerDoc: number,
    overlap?: number,
  ): Promise<EncodedWindows>;
  /** Each text alone, `[CLS] text [SEP]`, type ids 0, cut to maxLength tokens. */
  tokenizeTexts(texts: string[], maxLength: number): EncodedPairs;
  tokenizeTextsAsync(texts: string[], maxLength: number): Promise<EncodedPairs>;
}

interface TokenizerAddon {
  Tokenizer: { fromDir(dir: string): NativeTokenizer };
}

/** The folder holding crossrank's package.json, from lib/ or dist/lib/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'crossrank') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new NativeLoadError('crossrank: cannot find its own package.json');
    dir = parent;
  }
}

/** The platform tag napi-rs uses in binary names, e.g. linux-x64-gnu; also the prebuilds/ folder name. */
export function platformTag(): string {
  const { platform, arch } = process;
  if (platform === 'linux') {
    // Not process.report.getReport(): by default it resolves the peer name of
    // every open socket, which blocks a busy server (nodejs/node#46060).
    // detect-libc reads the dynamic loader's files first, and excludes the
    // network from the report when it has to fall back to one.
    const libc = familySync() === MUSL ? 'musl' : 'gnu';
    return `${platform}-${arch}-${libc}`;
  }
  return `${platform}-${arch}`;
}

function loadFirst<T>(what: string, candidates: string[], hint: string): T {
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) {
      failures.push(`  ${candidate}: not found`);
      continue;
    }
    try {
      return require(candidate) as T;
    } catch (error) {
      failures.push(`  ${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new NativeLoadError(
    `crossrank: could not load the ${what} for ${process.platform}-${process.arch} (Node ${process.version}).\n` +
      `Tried:\n${failures.join('\n')}\n${hint}`,
  );
}

/** Platforms that ship prebuilt binaries in prebuilds/ (built by scripts/prebuild.sh). */
export const PREBUILT_PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu'];

function whatToDo(buildCommand: string, needs: string): string {
  const tag = platformTag();
  const prebuilt = PREBUILT_PLATFORMS.includes(tag)
    ? `The prebuilt binary for ${tag} should be in prebuilds/${tag}/; reinstall crossrank if it is missing.`
    : `No prebuilt binary is shipped for ${tag} (prebuilt: ${PREBUILT_PLATFORMS.join(', ')}).`;
  return `${prebuilt}\nTo build from source: in an installed package run \`npm rebuild crossrank\`, in a clone \`${buildCommand}\` (needs ${needs}).`;
}

let engine: EngineAddon | undefined;
let tokenizer: TokenizerAddon | undefined;

/** The addon: a local build (cmake-js in a clone, node-gyp from source) first, then the prebuilt one. */
export function engineAddon(): EngineAddon {
  if (!engine) {
    // CROSSRANK_ADDON_PATH replaces the search, e.g. to test the sanitizer
    // build (scripts/test-sanitize.sh).
    const override = process.env['CROSSRANK_ADDON_PATH'];
    const root = packageRoot();
    engine = loadFirst<EngineAddon>(
      'native engine (crossrank.node)',
      override
        ? [override]
        : [join(root, 'build', 'Release', 'crossrank.node'), join(root, 'prebuilds', platformTag(), 'crossrank.node')],
      override
        ? 'CROSSRANK_ADDON_PATH names the addon to load; unset it to use the default build or the prebuilt one.'
        : whatToDo('npm run build:native', 'a C++17 compiler, plus python3 and make for npm rebuild or cmake in a clone'),
    );
  }
  return engine;
}

/** The tokenizer: a local build (napi build in a clone, cargo from source) first, then the prebuilt one. */
export function tokenizerAddon(): TokenizerAddon {
  if (!tokenizer) {
    const root = packageRoot();
    const tag = platformTag();
    tokenizer = loadFirst<TokenizerAddon>(
      'tokenizer (crossrank-tokenizer.node)',
      [
        join(root, 'build', 'tokenizer', `crossrank-tokenizer.${tag}.node`),
        join(root, 'prebuilds', tag, 'crossrank-tokenizer.node'),
      ],
      whatToDo('npm run build:tokenizer', 'Rust and cargo'),
    );
  }
  return tokenizer;
}
