export {
  CrossEncoder,
  DEFAULT_MAX_BATCH_TOKENS,
  DEFAULT_MAX_PAIRS_PER_CALL,
  DEFAULT_MAX_TOKENS_PER_CALL,
  type EncodeOptions,
  type LoadOptions,
  type ModelConfig,
  type Pair,
  type PredictOptions,
  type RankOptions,
  type RankResult,
  type Activation,
  type Truncation,
  type Dtype,
  type EncodedPairs,
  type EncodedWindows,
  type Pooling,
} from './cross-encoder.js';
export { bestWindows, type DocumentWindow, type WindowOptions } from './windows.js';
export {
  DEFAULT_MAX_TEXTS_PER_CALL,
  type EmbedOptions,
  SentenceEncoder,
  type SentenceEncoderConfig,
  type SentenceEncoderLoadOptions,
} from './sentence-encoder.js';
export { quantizeModel, type QuantizeOptions } from './quantize.js';
export { CrossrankError, DisposedError, ModelLoadError, NativeLoadError } from './errors.js';
export { cpuInfo, type CpuInfo } from './info.js';
export { DEFAULT_MODEL_ID, OFFLINE_MODEL_NAME, offlineModelPath } from './default-model.js';
export { HubError, type HubErrorReason, ModelNotReadyError } from './hub/errors.js';
export type { DownloadProgress, HubOptions } from './hub/resolve.js';
export { downloadModel, type DownloadModelOptions } from './hub/api.js';
export {
  DEFAULT_RETRIEVE_K,
  DocumentIndex,
  retrieveAndRerank,
  type PipelineResult,
  type RetrieveAndRerankOptions,
  type SearchHit,
  type TextEmbedder,
} from './pipeline.js';
