/**
 * The error limits of the JavaScript tests, each with why it is what it is
 * (as native/tests/kernel_test.cc names its own). A test compares against one
 * of these, never against a bare number.
 */

/**
 * The tiny random test model (2 layers, hidden 36) against PyTorch fp32: its
 * logits are O(1) and a few dot products of 36 terms deep, so summation order
 * (kernels vs PyTorch's) moves them by tens of ulp, well under this.
 */
export const TINY_LOGIT_TOL = 1e-5;

/**
 * all-MiniLM-L6-v2 (6 layers, hidden 384, intermediate 1536) against PyTorch
 * fp32: each layer adds float rounding of 384- and 1536-term sums and of
 * LayerNorm, and logits reach ~10, so 1e-4 is about 1e-5 relative.
 */
export const MINILM_LOGIT_TOL = 1e-4;

/** Pooled hidden states (encode) against PyTorch fp32, both models: the limit of the deeper one, as MINILM_LOGIT_TOL. */
export const HIDDEN_TOL = 1e-4;

/** Sentence embeddings against sentence-transformers: the encoder's error (as HIDDEN_TOL), pooled and normalised. */
export const EMBEDDING_TOL = 1e-4;

/**
 * The same sequence through the same engine in a different batch (another
 * batch size, position or neighbours): each sequence is computed on its own,
 * but its rows can fall on another GEMM edge path; a few ulp of O(1) values.
 */
export const SAME_ENGINE_TOL = 1e-6;

/**
 * A float32 output against the same formula in double precision (sigmoid,
 * softmax, an L2 norm of a 36-wide row): a handful of float32 roundings of
 * values at most 1, i.e. a few ulp (float32's unit roundoff is 6e-8).
 */
export const FLOAT_FORMULA_TOL = 1e-6;

/** Arithmetic done wholly in double precision by the test or the library (rank statistics, cosines). */
export const DOUBLE_TOL = 1e-12;

/**
 * Two results that must differ (different pooling of the same hidden states):
 * 1000 times SAME_ENGINE_TOL, so that no rounding noise can pass for a difference.
 */
export const CLEARLY_DIFFERENT = 1e-3;

/**
 * A random model at a real reranker's size (12 layers, hidden up to 768,
 * intermediate 3072, ~512 tokens) against PyTorch fp32: as MINILM_LOGIT_TOL,
 * twice the depth, and sums over 768- and 3072-term dot products and
 * 512-key softmaxes; the logits are O(0.1-1).
 */
export const SCALE_LOGIT_TOL = 1e-4;

/**
 * int8 and bf16 logits against PyTorch fp32, relative to the largest logit of
 * the cases compared: the rounding of every GEMM input (int8: per-row scales,
 * 8 bits; bf16: 8 significant bits) adds up over the layers, while an error
 * of the scheme itself (a wrong scale, pairing or sign) is of the size of the
 * logits. The limits of test/families.test.ts, for the deeper models.
 */
export const QUANTIZED_RELATIVE_TOL = { int8: 0.1, bf16: 0.02 } as const;
