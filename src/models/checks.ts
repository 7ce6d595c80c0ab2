// The argument checks the language models share, so every model says the same thing about the
// same mistake: a size that is not a positive integer, a token id outside the vocabulary.

/** Throws a RangeError naming the first of `sizes` that is not an integer ≥ 1 (`kind`: the model). */
export function checkSizes(kind: string, sizes: Record<string, number>): void {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${kind}: ${k} must be an integer ≥ 1, got ${v}`);
  }
}

/** Throws a RangeError for the first token that is not an integer in 0..V−1. */
export function checkTokens(kind: string, tokens: readonly number[], V: number): void {
  for (const id of tokens) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`${kind}: token ${id} is outside the vocabulary 0..${V - 1}`);
  }
}
