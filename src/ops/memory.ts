// The associative-memory recurrence ops (Ops.memoryForward / memoryBackward in ./types.ts): the
// size of their saved state, and the argument checks every backend runs, so a shape mistake fails
// the same way everywhere. Checks allocate nothing unless they fail (they run on every call).
import type { MemoryShape, Tensor } from './types.js';
import { checkCount, checkNeed } from './checks.js';

/** States stored per sequence: the zero start and one per commit, ⌊T/C⌋ + 1. */
export function memoryStates(s: MemoryShape): number {
  return Math.floor(s.T / s.period) + 1;
}

/**
 * Where the state read at step t (the one after ⌊t/C⌋ commits) starts in `saved`: R is stored
 * time-reversed within a sequence (see Ops.memoryForward).
 */
export function memoryStateOffset(s: MemoryShape, b: number, t: number): number {
  const n = memoryStates(s);
  return (b * n + n - 1 - Math.floor(t / s.period)) * s.dk * s.dv;
}

/** Elements of the Adam blocks m, u, A of `saved` (each; 0 for gd and momentum). */
export function memoryAdamBlock(s: MemoryShape): number {
  return s.optimizer === 'adam' ? s.B * s.T * s.dk * s.dv : 0;
}

/** Where the Adam blocks of `saved` start: after R. */
export function memoryAdamOffset(s: MemoryShape): number {
  return s.B * memoryStates(s) * s.dk * s.dv;
}

/** Where the working area of `saved` starts: after R and the three Adam blocks. */
export function memoryWorkOffset(s: MemoryShape): number {
  return memoryAdamOffset(s) + 3 * memoryAdamBlock(s);
}

/**
 * Elements of the working area at the end of `saved`: what one thread running the recurrence
 * needs besides R and the Adam blocks (a backend that splits a call over threads gives each of
 * the others an area of this size of its own).
 */
export function memoryWorkSize(dk: number, dv: number): number {
  return 5 * dk * dv + 2 * dv;
}

/** Elements the `saved` tensor of memoryForward must hold at least (layout: Ops.memoryForward). */
export function memorySavedSize(s: MemoryShape): number {
  return memoryWorkOffset(s) + memoryWorkSize(s.dk, s.dv);
}

function checkShape(op: string, s: MemoryShape): void {
  checkCount(op, 'B', s.B); checkCount(op, 'T', s.T); checkCount(op, 'dk', s.dk); checkCount(op, 'dv', s.dv);
  if (s.rule !== 'delta' && s.rule !== 'hebbian') throw new RangeError(`${op}: rule must be delta or hebbian, got '${s.rule as string}'`);
  if (s.optimizer !== 'gd' && s.optimizer !== 'momentum' && s.optimizer !== 'adam') {
    throw new RangeError(`${op}: optimizer must be gd, momentum or adam, got '${s.optimizer as string}'`);
  }
  if (!Number.isInteger(s.period) || s.period < 1) throw new RangeError(`${op}: period must be an integer ≥ 1, got ${s.period}`);
  if (!Number.isFinite(s.eta) || !Number.isFinite(s.beta) || !Number.isFinite(s.beta1) || !Number.isFinite(s.beta2) ||
    !Number.isFinite(s.eps)) {
    throw new RangeError(`${op}: eta, beta, beta1, beta2 and eps must be finite`);
  }
  // Adam divides by 1 − β1ⁿ and takes √(… + ε): outside these ranges that is a division by zero or a NaN.
  if (s.optimizer === 'adam' && !(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1 && s.eps > 0)) {
    throw new RangeError(`${op}: adam needs 0 ≤ beta1, beta2 < 1 and eps > 0, got ${s.beta1}, ${s.beta2}, ${s.eps}`);
  }
}

function checkInputs(op: string, s: MemoryShape, k: Tensor, v: Tensor, q: Tensor, saved: Tensor): void {
  checkShape(op, s);
  const n = s.B * s.T;
  checkNeed(op, 'k', k, n * s.dk, 'B·T·dk');
  checkNeed(op, 'q', q, n * s.dk, 'B·T·dk');
  checkNeed(op, 'v', v, n * s.dv, 'B·T·dv');
  checkNeed(op, 'saved', saved, memorySavedSize(s), 'memorySavedSize');
}

export function checkMemoryForwardArgs(s: MemoryShape, k: Tensor, v: Tensor, q: Tensor, y: Tensor, saved: Tensor): void {
  checkInputs('memoryForward', s, k, v, q, saved);
  checkNeed('memoryForward', 'y', y, s.B * s.T * s.dv, 'B·T·dv');
}

export function checkMemoryBackwardArgs(s: MemoryShape, k: Tensor, v: Tensor, q: Tensor, saved: Tensor, dy: Tensor,
  dk: Tensor, dv: Tensor, dq: Tensor): void {
  const op = 'memoryBackward', n = s.B * s.T;
  checkInputs(op, s, k, v, q, saved);
  checkNeed(op, 'dy', dy, n * s.dv, 'B·T·dv');
  checkNeed(op, 'dk', dk, n * s.dk, 'B·T·dk');
  checkNeed(op, 'dq', dq, n * s.dk, 'B·T·dk');
  checkNeed(op, 'dv', dv, n * s.dv, 'B·T·dv');
}
