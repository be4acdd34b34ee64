/** Output activations, chosen as sentence-transformers' CrossEncoder chooses them. */

export type Activation = 'sigmoid' | 'softmax' | 'none';

export const ACTIVATIONS: readonly Activation[] = ['sigmoid', 'softmax', 'none'];

// sentence-transformers stores the activation as a dotted torch class path.
const TORCH_ACTIVATIONS: Record<string, Activation> = {
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.activation.Softmax': 'softmax',
  'torch.nn.modules.linear.Identity': 'none',
};

/**
 * The activation a model folder asks for: `sentence_transformers.activation_fn`
 * in config.json, else the older `sbert_ce_default_activation_function`, else
 * sigmoid for one label and none for several. Returns an error message for a
 * class crossrank does not implement.
 */
export function defaultActivation(
  rawConfig: Record<string, unknown>,
  numLabels: number,
): { activation: Activation } | { error: string } {
  const st = rawConfig['sentence_transformers'];
  let field: string | undefined;
  let path: unknown;
  if (st && typeof st === 'object' && 'activation_fn' in st) {
    field = 'sentence_transformers.activation_fn';
    path = (st as Record<string, unknown>)['activation_fn'];
  } else if (rawConfig['sbert_ce_default_activation_function'] != null) {
    field = 'sbert_ce_default_activation_function';
    path = rawConfig['sbert_ce_default_activation_function'];
  }
  if (field !== undefined && path != null) {
    const activation = typeof path === 'string' ? TORCH_ACTIVATIONS[path] : undefined;
    if (!activation) {
      return {
        error: `${field}: ${JSON.stringify(path)} is not supported (supported: ${Object.keys(TORCH_ACTIVATIONS).join(', ')})`,
      };
    }
    return { activation };
  }
  return { activation: numLabels === 1 ? 'sigmoid' : 'none' };
}

/** Applies `activation` in place to logits laid out as rows of `numLabels`. */
export function applyActivation(logits: Float32Array, numLabels: number, activation: Activation): void {
  if (activation === 'sigmoid') {
    for (let i = 0; i < logits.length; i++) logits[i] = 1 / (1 + Math.exp(-logits[i]!));
  } else if (activation === 'softmax') {
    for (let row = 0; row < logits.length; row += numLabels) {
      let max = -Infinity;
      for (let j = 0; j < numLabels; j++) max = Math.max(max, logits[row + j]!);
      let sum = 0;
      for (let j = 0; j < numLabels; j++) sum += Math.exp(logits[row + j]! - max);
      for (let j = 0; j < numLabels; j++) logits[row + j] = Math.exp(logits[row + j]! - max) / sum;
    }
  }
}
