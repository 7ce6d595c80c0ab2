// The argument checks the models share, so every model says the same thing about the same
// mistake: a size that is not a positive integer, a token id outside the vocabulary.

/** Throws a RangeError naming the first of `sizes` that is not an integer ≥ 1 (`kind`: the model). */
export function checkSizes(kind: string, sizes: Record<string, number>): void {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${kind}: ${k} must be an integer ≥ 1, got ${v}`);
  }
}

/**
 * The attention (or memory) heads split the model width evenly: a RangeError naming the flags
 * otherwise. For a spec's `check` (src/models/registry.ts), run before any data is loaded.
 */
export function checkHeadsDivide(dModel: unknown, heads: unknown): void {
  const c = Number(dModel), h = Number(heads);
  if (Number.isInteger(c) && Number.isInteger(h) && h >= 1 && c % h !== 0) {
    throw new RangeError(`--d-model ${c} must be a multiple of --heads ${h} (each head gets d-model / heads dimensions)`);
  }
}

/**
 * Throws a RangeError for the first of tokens[0 … n) that is not an integer in 0..V−1. Takes a
 * prompt (number[]) or a batch's ids (Int32Array, only its first n cells in use): an indexed loop,
 * so the per-step check of a training batch allocates nothing.
 */
export function checkTokens(kind: string, tokens: ArrayLike<number>, V: number, n = tokens.length): void {
  for (let i = 0; i < n; i++) {
    const id = tokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`${kind}: token ${id} is outside the vocabulary 0..${V - 1}`);
  }
}
