// A model's weights as one self-describing safetensors file: every parameter under its own name
// (docs/weights.md), plus `__metadata__` with the model kind, its config and its tokenizer, so that
// `handgrad import` can rebuild the run from this file alone. `export --format safetensors` writes
// it; `import` reads it (or any file with the same tensor names, metadata optional).
import type { SequenceModel } from '../models/types.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { encodeSafetensors, type SafeDtype, type SafeTensorInput } from '../train/safetensors.js';

export const META_KIND = 'handgrad.kind';
export const META_CONFIG = 'handgrad.config';
export const META_TOKENIZER = 'handgrad.tokenizer';

/** The safetensors bytes of `model`'s parameters in `dtype`, with kind, config and tokenizer as metadata. */
export function encodeWeightsFile(model: SequenceModel, tokenizer: Tokenizer, dtype: SafeDtype): Uint8Array {
  const entries: [string, SafeTensorInput][] = model.params.map((p) => [p.name, { dtype, shape: p.shape, data: p.value.data }]);
  return encodeSafetensors(entries, {
    format: 'pt',
    [META_KIND]: model.kind,
    [META_CONFIG]: JSON.stringify(model.config),
    [META_TOKENIZER]: JSON.stringify(tokenizer.toJSON()),
  });
}
