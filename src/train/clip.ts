// Global gradient-norm clipping: treats every parameter's gradient as one long vector and, when its
// Euclidean norm exceeds maxNorm, scales all of them by the same factor so the norm becomes exactly
// maxNorm. The direction of the update is kept; only its length is capped (unlike per-element
// clipping, which bends the direction). Call it after backward, before the optimizer step.
import type { Ops, Tensor } from '../ops/types.js';

/** √(Σ over tensors of Σ g²), summed in double precision. */
export function gradNorm(ops: Ops, grads: readonly Tensor[]): number {
  return Math.sqrt(ops.sumSquaresMany(grads));
}

/**
 * Scales `grads` in place so that their global norm is at most `maxNorm`; returns the norm before
 * clipping (log it: a spiking norm is the first sign of a diverging run).
 * A zero norm, or one already within the limit, leaves the gradients untouched. A non-finite norm
 * (NaN or Infinity from an overflowed backward pass) also leaves them untouched and is returned
 * as is, so the caller can see it and skip the step instead of writing NaN into every weight.
 */
export function clipGradNorm(ops: Ops, grads: readonly Tensor[], maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = gradNorm(ops, grads);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const factor = maxNorm / norm;
    for (const g of grads) ops.scale(g, factor);
  }
  return norm;
}
